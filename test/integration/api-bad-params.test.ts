/**
 * Every kind of bad request gets a 4xx whose message names what to fix, never a 500
 * (upstream answered 500 for an unknown id or state, and silently defaulted a bad limit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { loadApiFixture, startApi, TOKEN, type RunningApi } from '../helpers/api.js';

let db: TestDatabase;
let api: RunningApi;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await loadApiFixture(db);
  api = await startApi(db);
});
afterAll(async () => {
  await api.close();
  await db.close();
});

type Case = readonly [method: string, path: string, status: number, message: RegExp, body?: string];

const CASES: readonly Case[] = [
  ['GET', '/v1/streams?state=bogus', 400, /^state: unknown state "bogus"; one of active, firing/],
  ['GET', '/v1/streams?state=9', 400, /^state: unknown state/],
  ['GET', '/v1/streams?state=constructor', 400, /^state: unknown state "constructor"/],
  ['GET', '/v1/streams/count?state=__proto__', 400, /^state: unknown state "__proto__"/],
  ['GET', `/v1/streams?${Array.from({ length: 61 }, (_, i) => `q.field=instance_id&q.value=x${i}`).join('&')}`, 400, /^q\.field: at most 20 trait conditions, got 61/],
  ['GET', `/v1/events/count?${Array.from({ length: 21 }, (_, i) => `q.field=host&q.value=h${i}`).join('&')}&from_datetime=2015-01-01&to_datetime=2015-01-02`, 400, /^q\.field: at most 20 trait conditions, got 21/],
  ['GET', `/v1/streams?distinguishing_traits=${Array.from({ length: 61 }, (_, i) => `instance_id:${i}`).join(';')}`, 400, /^distinguishing_traits: at most 20 trait conditions, got 61/],
  ['GET', '/v1/streams/count?state=', 200, /.*/],
  ['GET', '/v1/streams?limit=abc', 400, /^limit: expected a whole number from 1 to 1000/],
  ['GET', '/v1/streams?limit=0', 400, /^limit: must be from 1 to 1000, got 0/],
  ['GET', '/v1/streams?limit=1001', 400, /^limit: must be from 1 to 1000, got 1001/],
  ['GET', '/v1/streams?limit=-5', 400, /^limit: expected a whole number/],
  ['GET', '/v1/streams?limit=1.5', 400, /^limit: expected a whole number/],
  ['GET', '/v1/streams?limit=10&limit=20', 400, /^limit: given 2 times; give it once/],
  ['GET', '/v1/events?limit=99999999999999999999', 400, /^limit: must be from 1 to 1000/],
  ['GET', '/v1/streams?mark=xyz', 400, /^mark: expected a _mark from a previous page/],
  ['GET', '/v1/streams?mark=%2B%2B1', 400, /^mark: expected a _mark/],
  ['GET', '/v1/streams?mark=1-2', 400, /^mark: /],
  ['GET', '/v1/events?mark=ffffffffffffffffff', 400, /^mark: /],
  ['GET', '/v1/streams?older_than=yesterday', 400, /^older_than: cannot read "yesterday" as a datetime; e\.g\. 2015-02-27T15:27:18\.603932/],
  ['GET', '/v1/streams?younger_than=2014-13-01', 400, /^younger_than: "2014-13-01" is not a valid datetime \(month 13 is out of range/],
  ['GET', '/v1/streams?younger_than=2014-02-30T00:00:00', 400, /^younger_than: .*day 30 is out of range/],
  ['GET', '/v1/events?from_datetime=2014-08-01T25:00:00', 400, /^from_datetime: .*hour 25/],
  ['GET', '/v1/events?to_datetime=1407000000', 400, /^to_datetime: cannot read "1407000000"/],
  ['GET', '/v1/events?from_datetime=2014-08-01T00:00:00.1234567', 400, /^from_datetime: cannot read/],
  ['GET', '/v1/streams?details=maybe', 400, /^details: expected true or false, got "maybe"/],
  ['GET', '/v1/streams/1?details=2', 400, /^details: expected true or false/],
  ['GET', '/v1/streams?detail=true', 400, /^detail: unknown parameter; this route takes .*details/],
  ['GET', '/v1/events?event_type=x', 400, /^event_type: unknown parameter; this route takes from_datetime, to_datetime, event_name/],
  ['GET', '/v1/streams/abc', 400, /^id: expected a positive integer id, got "abc"/],
  ['GET', '/v1/streams/0', 400, /^id: expected a positive integer id/],
  ['GET', '/v1/streams/99999999999999999999', 400, /^id: expected a positive integer id/],
  ['GET', '/v1/streams/12345', 404, /^no stream 12345$/],
  ['GET', '/v2/streams/-1/explain', 400, /^id: /],
  ['GET', '/v1/events/no-such-message', 404, /^no event with message_id "no-such-message"$/],
  ['GET', '/v1/streams?distinguishing_traits=instance_id', 400, /^distinguishing_traits: expected name:value pairs separated by ';', got "instance_id"/],
  ['GET', '/v1/streams?distinguishing_traits=:value', 400, /^distinguishing_traits: expected name:value pairs/],
  ['GET', '/v1/events?traits=novalue', 400, /^traits: expected name:value pairs/],
  ['GET', '/v1/events?q.field=memory_mb', 400, /^q\.value: give one q\.value per q\.field \(1 q\.field, 0 q\.value\)/],
  ['GET', '/v1/events?q.value=1', 400, /^q\.value: give one q\.value per q\.field/],
  ['GET', '/v1/events?q.field=a&q.field=b&q.value=1&q.value=2&q.op=eq', 400, /^q\.op: give q\.op for every q\.field or for none/],
  ['GET', '/v1/events?q.field=a&q.value=1&q.type=int&q.type=int', 400, /^q\.type: give q\.type for every q\.field or for none/],
  ['GET', '/v1/events?q.field=instance_id&q.op=like&q.value=x', 400, /^q\.op: unknown operator "like"; one of eq, ne, lt, le, gt, ge/],
  ['GET', '/v1/events?q.field=instance_id&q.type=boolean&q.value=x', 400, /^q\.type: unknown type "boolean"; one of string, integer, float, datetime/],
  ['GET', '/v1/streams?q.field=memory_mb&q.type=integer&q.value=12.5', 400, /^q\.value: memory_mb: expected an integer, got "12\.5"/],
  ['GET', '/v1/streams?q.field=test_weight&q.type=float&q.value=heavy', 400, /^q\.value: test_weight: expected a finite number, got "heavy"/],
  ['GET', '/v1/streams?q.field=test_weight&q.type=float&q.value=NaN', 400, /^q\.value: test_weight: expected a finite number/],
  ['GET', '/v1/streams?q.field=launched_at&q.type=datetime&q.value=soon', 400, /^q\.value: cannot read "soon" as a datetime/],
  ['GET', '/v1/streams?q.field=&q.value=x', 400, /^q\.field: empty trait name/],
  ['GET', '/v1/events?traits=host:x', 400, /^from_datetime: host can only be matched by reading every event of the time range/],
  ['GET', '/v1/events?traits=host:x&from_datetime=2014-08-01', 400, /^to_datetime: host can only be matched/],
  ['GET', '/v1/events?q.field=instance_id&q.op=ne&q.value=x', 400, /^from_datetime: instance_id can only be matched/],
  ['GET', '/v1/events/count?from_datetime=2014-01-01&to_datetime=2015-01-01&q.field=memory_mb&q.type=integer&q.value=1', 400, /^to_datetime: .*31536000 seconds, more than the 86400 allowed/],
  ['GET', '/v3/streams', 404, /^no route GET \/v3\/streams$/],
  ['GET', '/v1/quarantine', 404, /^no route GET \/v1\/quarantine$/],
  ['GET', '/v2/archives', 404, /^archives are not kept/],
  ['GET', '/v2/quarantine/0', 400, /^id: expected a positive integer id/],
  ['GET', '/v2/quarantine/424242', 404, /^no quarantined message 424242$/],
  ['GET', '/v2/quarantine?cell=a&cell=b', 400, /^cell: given 2 times/],
  ['GET', '/metrics?x=1', 400, /^x: unknown parameter; this route takes none/],
  ['PUT', '/v1/streams/1', 401, /send Authorization: Bearer <api_token>/],
  ['PUT', '/v1/streams/oops', 400, /^id: expected a positive integer id/, 'auth'],
  ['PUT', '/v1/streams/424242', 404, /^no stream 424242$/, 'auth'],
  ['DELETE', '/v1/streams/424242', 404, /^no stream 424242$/, 'auth'],
  ['POST', '/v1/streams/1', 405, /needs X-HTTP-Method-Override: PUT \(reset\) or DELETE/, 'auth'],
  ['POST', '/v2/quarantine/replay', 400, /^ids: send a JSON body \{"ids": \[1, 2, …\]\} with 1 to 1000 positive integer ids/, 'auth'],
  ['POST', '/v2/quarantine/replay', 400, /^ids: send a JSON body/, '{"ids": []}'],
  ['POST', '/v2/quarantine/replay', 400, /^ids: send a JSON body/, '{"ids": [1, "2"]}'],
  ['POST', '/v2/quarantine/replay', 400, /^ids: send a JSON body/, '{"ids": [-1]}'],
  ['POST', '/v2/quarantine/replay', 400, /JSON/, '{"ids": [1'],
  ['POST', '/v2/quarantine/abc/replay', 400, /^id: expected a positive integer id/, 'auth'],
  ['DELETE', '/v2/quarantine/424242', 404, /^no quarantined message 424242$/, 'auth'],
];

describe('bad requests', () => {
  it('has at least 40 cases', () => {
    expect(CASES.filter((c) => c[2] >= 400).length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c) => [`${c[0]} ${c[1]}${c[4] && c[4] !== 'auth' ? ` ${c[4]}` : ''}`, c] as const))('%s', async (_name, [method, path, status, message, body]) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['authorization'] = `Bearer ${TOKEN}`;
    if (body !== undefined && body !== 'auth') headers['content-type'] = 'application/json';
    const res = await fetch(api.url + path, { method, headers, ...(body !== undefined && body !== 'auth' ? { body } : {}) });
    const text = await res.text();
    expect(res.status, text).toBe(status);
    if (status >= 400) {
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const parsed = JSON.parse(text) as { statusCode: number; message: string; parameter?: string };
      expect(parsed.statusCode).toBe(status);
      expect(parsed.message).toMatch(message);
      // 400s name the parameter they blame, and the message starts with it
      if (status === 400 && parsed.parameter) expect(parsed.message.startsWith(parsed.parameter)).toBe(true);
    }
  });

  it('never answered 500', async () => {
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toContain('stv3_api_server_errors_total 0');
  });
});
