/**
 * The API over the fixture database (spec Appendix C and more, test/helpers/api.ts), real
 * HTTP: every route of spec §7.2 with its filters, ordering, paging, counts and exact JSON
 * (tagged µs datetimes, Python isoformat), the upstream bugs fixed (§10.15), our /v2 routes
 * (quarantine with replay, explain, status), /health, /metrics, auth, and that GETs write
 * nothing and injection attempts change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamJson } from '../../src/cli/client.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { insertQuarantine } from '../../src/shared/store/quarantine.js';
import { getText, loadApiFixture, startApi, TOKEN, type ApiFixture, type RunningApi } from '../helpers/api.js';
import { makeNotifications } from '../helpers/notifications.js';

let db: TestDatabase;
let api: RunningApi;
let fixture: ApiFixture;

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  fixture = await loadApiFixture(db);
  api = await startApi(db);
});
afterAll(async () => {
  await api.close();
  await db.close();
});

async function json<T = unknown>(path: string): Promise<T> {
  const r = await getText(api.url + path);
  expect(r.status, `${path}: ${r.text}`).toBe(200);
  expect(r.type).toBe('application/json; charset=utf-8');
  return JSON.parse(r.text) as T;
}

const ids = async (path: string): Promise<number[]> => (await json<{ id: number }[]>(path)).map((s) => s.id);
const messageIds = async (path: string): Promise<string[]> => (await json<{ message_id: string }[]>(path)).map((e) => e.message_id);

/** Checksums of every table: a GET must leave them all as they were. */
async function tableChecksums(): Promise<unknown> {
  const [rows] = await db.pool.query('CHECKSUM TABLE event_type, event, trait, stream, dist_trait, streamevent, quarantine, ingest_cell');
  return rows;
}

describe('streams', () => {
  it('writes a stream exactly as quince did: tagged µs datetimes, typed distinguishing traits, _mark', async () => {
    const r = await getText(`${api.url}/v1/streams/1`);
    expect(r.status).toBe(200);
    expect(r.text).toBe(
      '[{"id": 1, "name": "test_trigger", "state": "active", "_mark": "1", ' +
        '"first_event": {"__type__": "datetime", "datetime": "2014-08-01T02:10:12"}, ' +
        '"last_event": {"__type__": "datetime", "datetime": "2014-08-01T04:57:55.000042"}, ' +
        '"fire_timestamp": null, ' +
        '"expire_timestamp": {"__type__": "datetime", "datetime": "2014-08-02T04:57:55.000042"}, ' +
        '"distinguishing_traits": {"instance_id": "zzzz-xxxx-yyyy-wwww", ' +
        '"launched_at": {"__type__": "datetime", "datetime": "2014-07-08T09:40:50.077777"}, ' +
        '"memory_mb": 4096, "test_weight": 3.1415, ' +
        '"timestamp": {"__type__": "timex.TimeRange", "begin": "2014-07-08T00:00:00.000027", "end": "2014-07-09T00:00:00.000027"}}}]',
    );
  });

  it('lists newest first and pages with _mark both ways', async () => {
    expect(await ids('/v1/streams')).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const page = await json<StreamJson[]>('/v1/streams?limit=3');
    expect(page.map((s) => [s.id, s._mark])).toEqual([[11, 'b'], [10, 'a'], [9, '9']]);
    expect(await ids('/v1/streams?limit=3&mark=9')).toEqual([8, 7, 6]);
    expect(await ids('/v1/streams?limit=3&mark=-9')).toEqual([8, 7, 6]);
    const asc = await json<StreamJson[]>('/v2/streams?limit=3&mark=%2B');
    expect(asc.map((s) => [s.id, s._mark])).toEqual([[1, '+1'], [2, '+2'], [3, '+3']]);
    expect(await ids('/v2/streams?limit=3&mark=%2B3')).toEqual([4, 5, 6]);
    // A `+` sent unescaped arrives as a space: still ascending.
    expect(await ids('/v2/streams?limit=2&mark=+3')).toEqual([4, 5]);
  });

  it('filters by state (any case, or code), trigger name (klugman’s name too) and time', async () => {
    expect(await ids('/v1/streams?state=error')).toEqual([5]);
    expect(await ids('/v1/streams?state=EXPIRE_ERROR')).toEqual([6]);
    expect(await ids('/v1/streams?state=7')).toEqual([7]);
    expect(await ids('/v1/streams?state=active')).toEqual([4, 3, 2, 1]);
    expect(await ids('/v1/streams?trigger_name=reset_test_trigger')).toEqual([8, 7, 6, 5]);
    expect(await ids('/v1/streams?name=fire_test_trigger')).toEqual([4, 3]);
    expect(await ids('/v1/streams?trigger_name=fire_test_trigger&state=active&limit=1')).toEqual([4]);
    // older_than: first_event < X; younger_than: last_event > X (µs exact at the boundary).
    expect(await ids('/v1/streams?older_than=2014-08-01T02:10:12.000001')).toEqual([8, 7, 6, 5, 1]);
    expect(await ids('/v1/streams?older_than=2014-08-01T00:00:00')).toEqual([]);
    expect(await ids('/v1/streams?younger_than=2014-08-03T00:00:00')).toEqual([11]);
    expect(await ids('/v1/streams?younger_than=2014-08-01T04:57:55.000041&older_than=2014-08-01T03:00:00')).toEqual([1]);
    expect(await ids('/v1/streams?younger_than=2014-08-01T06:57:55.000042%2B02:00&older_than=2014-08-01T03:00:00')).toEqual([]);
  });

  it('filters by distinguishing traits: upstream’s string pairs, values with `:`, typed and AND-ed', async () => {
    expect(await ids('/v1/streams?distinguishing_traits=instance_id:aaaa-bbbb-cccc-dddd')).toEqual([3, 2]);
    expect(await ids('/v1/streams?distinguishing_traits=instance_id:http://nova:8774/v2/a:b')).toEqual([4]);
    expect(await ids('/v1/streams?distinguishing_traits=instance_id:aaaa-bbbb-cccc-dddd&trigger_name=another_test_trigger')).toEqual([2]);
    expect(await ids('/v1/streams?distinguishing_traits=instance_id:zzzz-xxxx-yyyy-wwww;memory_mb:4096')).toEqual([]); // string 4096 ≠ int 4096
    expect(await ids('/v1/streams?distinguishing_traits=instance_id:zzzz-xxxx-yyyy-wwww&q.field=memory_mb&q.type=integer&q.value=4096')).toEqual([1]);
    expect(await ids('/v1/streams?q.field=memory_mb&q.op=gt&q.type=int&q.value=4096')).toEqual([]);
    expect(await ids('/v1/streams?q.field=test_weight&q.op=lt&q.type=float&q.value=3.2')).toEqual([1]);
    expect(await ids('/v1/streams?q.field=launched_at&q.type=datetime&q.value=2014-07-08T09:40:50.077777')).toEqual([1]);
    expect(await ids('/v1/streams?q.field=launched_at&q.type=datetime&q.value=2014-07-08T09:40:50.077778')).toEqual([]);
    // A datetime matches a timerange trait when the range holds it: [begin, end).
    expect(await ids('/v1/streams?q.field=timestamp&q.type=datetime&q.value=2014-07-08T00:00:00.000027')).toEqual([1]);
    expect(await ids('/v1/streams?q.field=timestamp&q.type=datetime&q.value=2014-07-09T00:00:00.000027')).toEqual([]);
    expect(await ids('/v1/streams?q.field=instance_id&q.op=ne&q.value=zzzz-xxxx-yyyy-wwww')).toEqual([4, 3, 2]);
    expect(
      await ids('/v1/streams?q.field=instance_id&q.field=test_weight&q.op=eq&q.op=ge&q.type=string&q.type=float&q.value=zzzz-xxxx-yyyy-wwww&q.value=3.1415'),
    ).toEqual([1]);
  });

  it('counts as [{"count": N}], with the mark and without the limit', async () => {
    expect((await getText(`${api.url}/v1/streams/count`)).text).toBe('[{"count": 11}]');
    expect(await json('/v1/streams/count?state=active&limit=1')).toEqual([{ count: 4 }]);
    expect(await json('/v1/streams/count?mark=5')).toEqual([{ count: 4 }]);
    expect(await json('/v2/streams/count?distinguishing_traits=instance_id:aaaa-bbbb-cccc-dddd')).toEqual([{ count: 2 }]);
  });

  it('includes events only when details is true, in time order', async () => {
    const plain = await json<StreamJson[]>('/v1/streams/1?details=false');
    expect(plain[0]).not.toHaveProperty('events');
    expect((await json<StreamJson[]>('/v1/streams?details=false'))[0]).not.toHaveProperty('events');
    const [one] = await json<StreamJson[]>('/v1/streams/1?details=true');
    expect(one!.events!.map((e) => e.message_id)).toEqual(['1234-5678-003', '1234-5678-004']);
    const [three] = await json<StreamJson[]>('/v1/streams?details=1&distinguishing_traits=instance_id:aaaa-bbbb-cccc-dddd&trigger_name=fire_test_trigger');
    expect(three!.events!.map((e) => [e.message_id, e.timestamp.datetime])).toEqual([
      ['1234-5678-001', '2014-08-01T10:20:45.453201'],
      ['1234-5678-002', '2014-08-01T15:25:45.453201'],
    ]);
    expect((await json<StreamJson[]>('/v1/streams/11?details=yes'))[0]!.events).toEqual([]);
  });

  it('sends a stream page again only while nothing in it changed', async () => {
    const path = '/v1/streams?details=true&trigger_name=another_test_trigger';
    const first = await getText(api.url + path);
    expect((await getText(api.url + path)).text).toBe(first.text);
    // As ingest appends: the link and event_count in one transaction.
    await db.pool.query('INSERT INTO streamevent (stream_id, event_id) VALUES (2, 1)');
    await db.pool.query('UPDATE stream SET event_count = event_count + 1 WHERE id = 2');
    const [two] = await json<StreamJson[]>(path);
    expect(two!.events!.map((e) => e.message_id)).toEqual(['1234-5678-001', '1234-5678-002']);
    await db.pool.query('DELETE FROM streamevent WHERE stream_id = 2 AND event_id = 1');
    await db.pool.query('UPDATE stream SET event_count = event_count - 1, state = 4 WHERE id = 2');
    const [back] = await json<StreamJson[]>(path);
    expect(back!.state).toBe('error');
    expect(back!.events!.map((e) => e.message_id)).toEqual(['1234-5678-002']);
    await db.pool.query('UPDATE stream SET state = 1 WHERE id = 2');
    expect((await getText(api.url + path)).text).toBe(first.text);
  });

  it('answers 404 for an unknown stream, and for the archives, with a message', async () => {
    for (const path of ['/v1/streams/999', '/v2/streams/999/explain', '/v2/archives', '/v2/archives/3']) {
      const r = await getText(api.url + path);
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.text).message).toMatch(path.includes('archives') ? /archives are not kept.*\/v2\/quarantine/ : /no stream 999/);
    }
    expect((await getText(`${api.url}/v1/archives`)).status).toBe(404);
    expect((await getText(`${api.url}/v1/streams/1/explain`)).status).toBe(404);
  });

  it('explains why a stream waits: criteria counts, times against the clock, lease, attempts, error', async () => {
    const one = await json<Record<string, unknown>>('/v2/streams/1/explain');
    expect(one).toMatchObject({
      id: 1,
      state: 'active',
      clock: 'database',
      trigger_known: true,
      fire_criteria: [{ event_types: ['compute.instance.exists'], needed: 1, count: 0, met: false }],
      fire_timestamp: null,
      expire_timestamp: { __type__: 'datetime', datetime: '2014-08-02T04:57:55.000042' },
    });
    expect(one['expire_in_seconds']).toBeLessThan(0);
    expect(one['verdict']).toMatch(/fire criteria not met \(0 of 1 compute\.instance\.exists\); it has been due to expire for .* waiting for a pipeline worker/);
    const firing = await json<Record<string, unknown>>('/v2/streams/9/explain');
    expect(firing).toMatchObject({ state: 'firing', lease_owner: 'host/pipeline-worker-0/42', attempts: 1, max_attempts: 3 });
    expect(firing['lease_expires_in_seconds']).toBeGreaterThan(0);
    expect(firing['verdict']).toMatch(/^firing now: claimed by host\/pipeline-worker-0\/42, lease ends in/);
    const failed = await json<Record<string, unknown>>('/v2/streams/5/explain');
    expect(failed['verdict']).toMatch(/fire pipeline failed \(usage: U2 launched_at mismatch\).*stv3 streams retry 5/);
    expect(failed['last_error']).toBe('usage: U2 launched_at mismatch');
  });
});

describe('events', () => {
  it('writes an event as quince did: envelope, tagged µs times, ints, floats with a fraction, _mark', async () => {
    const r = await getText(`${api.url}/v1/events?event_name=test.thing.begin`);
    expect(r.text).toBe(
      '[{"message_id": "1234-5678-001", "event_type": "test.thing.begin", ' +
        '"timestamp": {"__type__": "datetime", "datetime": "2014-08-01T10:20:45.453201"}, "_mark": "1", ' +
        '"instance_id": "aaaa-bbbb-cccc-dddd", "memory_mb": 1024, "test_weight": 20112.42, ' +
        '"launched_at": {"__type__": "datetime", "datetime": "2014-07-01T02:30:45.453201"}}]',
    );
    expect((await getText(`${api.url}/v1/events?event_name=test.otherthing.foo&limit=1&mark=4`)).text).toContain('"test_weight": 3.0');
    // 2^53 + 1 stays exact on the wire.
    expect((await getText(`${api.url}/v1/events/1234-5678-006`)).text).toContain('"bytes": 9007199254740993');
  });

  it('lists newest first, pages with _mark, and bounds time as upstream (from exclusive, to inclusive)', async () => {
    expect(await messageIds('/v1/events')).toEqual(['1234-5678-006', 'Mixed-Case-ID-005', '1234-5678-004', '1234-5678-003', '1234-5678-002', '1234-5678-001']);
    expect(await messageIds('/v1/events?mark=%2B4')).toEqual(['Mixed-Case-ID-005', '1234-5678-006']);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01T02:10:12&to_datetime=2014-08-01T04:57:55.000042')).toEqual(['1234-5678-004']);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01T02:10:11.999999&to_datetime=2014-08-01T04:57:55.000041')).toEqual(['1234-5678-003']);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01 23:00:00')).toEqual(['1234-5678-006', 'Mixed-Case-ID-005']);
  });

  it('finds by event type without creating one, and by exact message_id (case kept)', async () => {
    expect(await messageIds('/v1/events?event_name=test.thing.end')).toEqual(['1234-5678-002']);
    const types = await count(db.pool, 'SELECT COUNT(*) AS n FROM event_type');
    expect(await messageIds('/v1/events?event_name=no.such.type')).toEqual([]);
    expect(await json('/v1/events/count?event_name=no.such.type')).toEqual([{ count: 0 }]);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event_type')).toBe(types);
    const one = await json<Record<string, unknown>>('/v1/events/Mixed-Case-ID-005');
    expect(one).toEqual({
      message_id: 'Mixed-Case-ID-005',
      event_type: 'test.more',
      timestamp: { __type__: 'datetime', datetime: '2014-08-02T00:00:00.000001' },
      instance_id: 'http://nova:8774/v2/a:b',
      state_description: 'Rebuilding; step 2',
      launched_at: { __type__: 'datetime', datetime: '2014-08-01T23:59:59.999999' },
    });
    expect((await getText(`${api.url}/v1/events/mixed-case-id-005`)).status).toBe(404);
  });

  it('filters by indexed traits (string, values with `:`) anywhere in time, AND-ed', async () => {
    expect(await messageIds('/v1/events?traits=instance_id:aaaa-bbbb-cccc-dddd')).toEqual(['1234-5678-002', '1234-5678-001']);
    expect(await messageIds('/v1/events?traits=instance_id:http://nova:8774/v2/a:b')).toEqual(['Mixed-Case-ID-005']);
    expect(await messageIds('/v1/events?traits=instance_id: aaaa-bbbb-cccc-dddd ;tenant_id:tenant-9')).toEqual([]);
    expect(await messageIds('/v1/events?traits=tenant_id:tenant-9')).toEqual(['1234-5678-006']);
    expect(await messageIds('/v1/events?q.field=instance_id&q.op=gt&q.value=zzzz')).toEqual(['1234-5678-004', '1234-5678-003']);
    expect(await messageIds('/v1/events?traits=instance_id:aaaa-bbbb-cccc-dddd&event_name=test.thing.end')).toEqual(['1234-5678-002']);
    // with a driving indexed condition, other traits need no time range
    expect(await messageIds('/v1/events?traits=instance_id:aaaa-bbbb-cccc-dddd&q.field=memory_mb&q.op=gt&q.type=integer&q.value=1024')).toEqual(['1234-5678-002']);
  });

  it('filters by other traits inside a bounded time range, typed', async () => {
    const day = 'from_datetime=2014-08-01T00:00:00&to_datetime=2014-08-02T00:00:00';
    expect(await messageIds(`/v1/events?${day}&q.field=memory_mb&q.op=ge&q.type=integer&q.value=1024`)).toEqual(['1234-5678-002', '1234-5678-001']);
    expect(await messageIds(`/v1/events?${day}&q.field=memory_mb&q.op=lt&q.type=integer&q.value=2048`)).toEqual(['1234-5678-001']);
    expect(await messageIds(`/v1/events?${day}&q.field=test_weight&q.op=eq&q.type=float&q.value=3`)).toEqual(['1234-5678-003']);
    expect(await messageIds(`/v1/events?${day}&q.field=launched_at&q.op=le&q.type=datetime&q.value=2014-07-01T02:30:45.453201`)).toEqual(['1234-5678-001']);
    expect(await messageIds(`/v1/events?${day}&traits=host:compute-1`)).toEqual(['1234-5678-004']);
    expect(await messageIds(`/v1/events?${day}&traits=host:COMPUTE-1`)).toEqual([]); // exact bytes
    // `;` separates upstream's pairs, so such a value needs the typed form.
    expect((await getText(`${api.url}/v1/events?from_datetime=2014-08-01T12:00:00&to_datetime=2014-08-02T12:00:00&traits=state_description:Rebuilding; step 2`)).status).toBe(400);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01T12:00:00&to_datetime=2014-08-02T12:00:00&q.field=state_description&q.value=Rebuilding; step 2')).toEqual(['Mixed-Case-ID-005']);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01T12:00:00&to_datetime=2014-08-02T12:00:00&q.field=bytes&q.type=integer&q.value=9007199254740993')).toEqual(['1234-5678-006']);
    expect(await messageIds('/v1/events?from_datetime=2014-08-01T12:00:00&to_datetime=2014-08-02T12:00:00&q.field=bytes&q.type=integer&q.value=9007199254740992')).toEqual([]);
    expect(await json(`/v1/events/count?${day}&q.field=memory_mb&q.op=ge&q.type=integer&q.value=1024`)).toEqual([{ count: 2 }]);
  });

  it('refuses a scan without a bound, saying why and what to give', async () => {
    const r = await getText(`${api.url}/v1/events?q.field=memory_mb&q.type=integer&q.value=1024`);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.text) as { message: string; parameter: string };
    expect(body.parameter).toBe('from_datetime');
    expect(body.message).toMatch(/memory_mb can only be matched by reading every event of the time range.*indexed_traits: instance_id, tenant_id, request_id, user_id.*give from_datetime and to_datetime, at most 86400 seconds apart/);
    const wide = JSON.parse((await getText(`${api.url}/v1/events/count?from_datetime=2014-01-01&to_datetime=2014-02-01&traits=host:x`)).text) as { message: string };
    expect(wide.message).toMatch(/2678400 seconds, more than the 86400 allowed/);
  });
});

describe('quarantine', () => {
  it('lists (newest first, by cell), counts and shows with the body', async () => {
    const list = await json<{ id: number; cell: string; _mark: string }[]>('/v2/quarantine');
    expect(list.map((q) => q.id)).toEqual([fixture.quarantine.west, fixture.quarantine.duplicate, fixture.quarantine.bad, fixture.quarantine.good]);
    expect((await json<{ id: number }[]>('/v2/quarantine?cell=west')).map((q) => q.id)).toEqual([fixture.quarantine.west]);
    expect(await json('/v2/quarantine/count?cell=east')).toEqual([{ count: 3 }]);
    expect(await json('/v2/quarantine?from_datetime=2014-08-02T02:00:00.000001')).toEqual([]);
    const west = await json<Record<string, unknown>>(`/v2/quarantine/${fixture.quarantine.west}`);
    expect(west).toMatchObject({ cell: 'west', queue: 'monitor.info', body_encoding: 'base64', body: Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('base64'), properties: null });
    const bad = await json<Record<string, unknown>>(`/v2/quarantine/${fixture.quarantine.bad}`);
    expect(bad).toMatchObject({ body_encoding: 'utf-8', properties: { contentType: 'application/json' }, received_at: { __type__: 'datetime', datetime: '2014-08-02T02:00:00.000001' } });
    expect((await getText(`${api.url}/v1/quarantine`)).status).toBe(404);
  });

  it('replays through the ingest path: stored once, duplicate, still poison with the new reason, gone', async () => {
    const messageId = String(fixture.goodNotification['message_id']);
    const unauthorized = await fetch(`${api.url}/v2/quarantine/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ids": [1]}' });
    expect(unauthorized.status).toBe(401);
    const q = fixture.quarantine;
    const results = await api.admin.replay([q.good, q.bad, q.duplicate, 99_999]);
    expect(results).toEqual([
      { id: q.good, outcome: 'stored', message_id: messageId, event_type: String(fixture.goodNotification['event_type']) },
      { id: q.bad, outcome: 'poison', reason: expect.stringMatching(/^body is not JSON/) as unknown as string },
      { id: q.duplicate, outcome: 'duplicate', message_id: '1234-5678-001', event_type: expect.any(String) as unknown as string },
      { id: 99_999, outcome: 'not_found' },
    ]);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE message_id = ?', [messageId])).toBe(1);
    // Filed into the sandbox triggers' streams, like any ingested event.
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent se JOIN event e ON e.id = se.event_id WHERE e.message_id = ?', [messageId])).toBeGreaterThan(0);
    expect((await json<{ id: number }[]>('/v2/quarantine')).map((r) => r.id)).toEqual([q.west, q.bad]);
    const bad = await json<{ reason: string }>(`/v2/quarantine/${q.bad}`);
    expect(bad.reason).toMatch(/^replayed at .*: body is not JSON/);
    // Idempotent: again, nothing more is stored.
    expect(await api.admin.replay([q.good])).toEqual([{ id: q.good, outcome: 'not_found' }]);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE message_id = ?', [messageId])).toBe(1);
  });

  it('replays a message the database still rejects (an indexed trait over 64 KiB) as poison, with the reason; the other ids go on', async () => {
    const [n] = makeNotifications(1, 9);
    const oversized = { ...n!, payload: { ...(n!['payload'] as object), tenant_id: 't'.repeat(70_000) } };
    await insertQuarantine(db.pool, [{ cell: 'east', queue: 'notifications.info', reason: 'distiller error: definitions were broken', body: Buffer.from(encodeOsloV2(oversized)) }]);
    const [rows] = await db.pool.query('SELECT MAX(id) AS id FROM quarantine');
    const id = (rows as { id: number }[])[0]!.id;
    try {
      const results = await api.admin.replay([id, 99_998]);
      const reason = /^could not be stored: ER_DATA_TOO_LONG.*\(indexed trait tenant_id is 70000 bytes; an indexed text trait holds at most 65535 bytes/;
      expect(results).toEqual([
        { id, outcome: 'poison', reason: expect.stringMatching(reason) as unknown as string },
        { id: 99_998, outcome: 'not_found' },
      ]);
      expect((await json<{ reason: string }>(`/v2/quarantine/${id}`)).reason).toMatch(/^replayed at .*: could not be stored: ER_DATA_TOO_LONG/);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE message_id = ?', [String(n!['message_id'])])).toBe(0);
    } finally {
      await db.pool.query('DELETE FROM quarantine WHERE id = ?', [id]);
    }
  });

  it('deletes with the token only', async () => {
    const q = fixture.quarantine;
    expect((await fetch(`${api.url}/v2/quarantine/${q.west}`, { method: 'DELETE' })).status).toBe(401);
    expect((await fetch(`${api.url}/v2/quarantine/${q.west}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await getText(`${api.url}/v2/quarantine/${q.west}`)).status).toBe(404);
    expect((await fetch(`${api.url}/v2/quarantine/${q.west}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });
});

describe('changing streams', () => {
  it('needs the token: 401 without or with a wrong one, done with it', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: TOKEN }] as Record<string, string>[]) {
      const r = await fetch(`${api.url}/v1/streams/5`, { method: 'PUT', headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="stv3"');
    }
    expect(await count(db.pool, 'SELECT state AS n FROM stream WHERE id = 5')).toBe(4);
    expect(await api.admin.resetStream(5)).toEqual({ id: 5, reset: true, state: 'retry_fire' });
    expect(await api.admin.resetStream(5)).toMatchObject({ id: 5, reset: false, state: 'retry_fire' });
  });

  it('resets with PUT or POST + X-HTTP-Method-Override, and deletes as upstream (events stay)', async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const override = await fetch(`${api.url}/v1/streams/6`, { method: 'POST', headers: { ...headers, 'x-http-method-override': 'PUT' } });
    expect(override.status).toBe(200);
    expect(await override.json()).toEqual({ id: 6, reset: true, state: 'retry_expire' });
    expect((await fetch(`${api.url}/v1/streams/6`, { method: 'POST', headers })).status).toBe(405);
    expect((await fetch(`${api.url}/v1/streams/999`, { method: 'PUT', headers })).status).toBe(404);

    const events = await count(db.pool, 'SELECT COUNT(*) AS n FROM event');
    const del = await fetch(`${api.url}/v1/streams/3`, { method: 'DELETE', headers });
    expect(del.status).toBe(200);
    expect(await del.text()).toBe('');
    expect((await getText(`${api.url}/v1/streams/3`)).status).toBe(404);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM dist_trait WHERE stream_id = 3')).toBe(0);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent WHERE stream_id = 3')).toBe(0);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(events);
    expect((await fetch(`${api.url}/v1/streams/3`, { method: 'DELETE', headers })).status).toBe(404);
  });
});

describe('operations', () => {
  it('reports health, status and Prometheus metrics read from the database', async () => {
    expect(await json('/health')).toEqual({ status: 'ok', database: 'reachable', migrations: 'current' });
    const status = await json<Record<string, unknown>>('/v2/status');
    expect(status['cells']).toEqual([
      { cell: 'east', events_stored: 6, duplicates: 1, quarantined: 3, last_ingest_at: { __type__: 'datetime', datetime: '2014-08-02T01:00:00.250000' }, last_event_at: { __type__: 'datetime', datetime: '2014-08-02T01:00:00' } },
    ]);
    const res = await fetch(`${api.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('stv3_cell_events_stored_total{cell="east"} 6');
    expect(text).toContain('stv3_cell_last_ingest_timestamp_seconds{cell="east"} 1406941200.25');
    expect(text).toMatch(/stv3_streams\{trigger="test_trigger",state="firing"\} 1/);
    expect(text).toMatch(/stv3_oldest_due_stream_age_seconds \d{6,}/);
    expect(text).toMatch(/stv3_quarantine_messages\{cell="east"\} \d/);
    expect(text).toContain('stv3_api_server_errors_total 0');
  });

  it('GETs write nothing, and injection attempts in traits, marks and names change nothing', async () => {
    const before = await tableChecksums();
    const attempts = [
      "/v1/events?event_name=x'%3B DROP TABLE event%3B --",
      "/v1/events?traits=instance_id:' OR '1'='1",
      '/v1/events?traits=instance_id:x%5C%27) OR 1=1 --',
      "/v1/streams?trigger_name=' OR 1=1 --",
      '/v1/streams?distinguishing_traits=instance_id:1%27 OR %271%27=%271;name:x',
      '/v1/streams?mark=1;DELETE FROM stream',
      '/v1/streams?limit=1 OR 1=1',
      "/v1/streams?q.field=instance_id') OR 1=1 --&q.value=x",
      '/v1/events?from_datetime=2014-08-01&to_datetime=2014-08-02&q.field=x") OR 1=1 -- &q.value=1',
      "/v1/events/1234-5678-001' OR '1'='1",
      '/v2/quarantine?cell=east%27 OR 1=1 --',
    ];
    for (const path of attempts) {
      const r = await getText(api.url + path);
      expect([200, 400, 404], `${path}: ${r.text}`).toContain(r.status);
      if (r.status === 200) expect(JSON.parse(r.text), path).toEqual([]);
    }
    for (const path of ['/v1/streams?details=true', '/v1/events?event_name=brand.new.type', '/v2/streams/1/explain', '/v2/status', '/metrics', '/health', '/v2/quarantine']) {
      expect((await getText(api.url + path)).status).toBe(200);
    }
    expect(await tableChecksums()).toEqual(before);
  });
});
