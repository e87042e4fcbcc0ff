/**
 * API tests' fixtures: a winchester.yaml for the API (upstream sandbox definitions and
 * triggers), an API served in-process on a random loopback port (real HTTP), and the fixture
 * database of spec Appendix C (winchester's test_db) plus what the API issue adds: streams in
 * every state, a lease, quarantine rows, microsecond datetimes, a trait value with `:`, a
 * mixed-case message_id, and an ingest_cell row.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { loadApiConfig } from '../../src/api/config.js';
import { ApiClient } from '../../src/cli/client.js';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { createLogger } from '../../src/shared/logger.js';
import { EventTypeIds, insertEvents } from '../../src/shared/store/events.js';
import { insertQuarantine } from '../../src/shared/store/quarantine.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import type { Event } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { SANDBOX, winchesterYamlText } from './configs.js';
import type { TestDatabase } from './db.js';
import { makeNotifications } from './notifications.js';

export const TOKEN = 'test-token-0123456789abcdef';

/** winchester.yaml for an API over `db` (sandbox definitions and triggers); returns its path. */
export function writeApiWinchester(db: TestDatabase, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-api-'));
  const file = join(dir, 'winchester.yaml');
  writeFileSync(file, winchesterYamlText({ databaseUrl: db.url, configPath: [SANDBOX], extra: `log_level: warn\n${extra}` }));
  return file;
}

export interface RunningApi {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Without a token. */
  readonly client: ApiClient;
  /** With the token. */
  readonly admin: ApiClient;
  close(): Promise<void>;
}

/** Serves the API for `db` on 127.0.0.1 (random port); `extra` winchester.yaml lines. */
export async function startApi(db: TestDatabase, extra = `api_token: ${TOKEN}\n`): Promise<RunningApi> {
  const config = loadApiConfig(writeApiWinchester(db, extra), {});
  const app = buildApp({ pool: db.pool, log: createLogger({ base: { app: 'api-test' }, level: 'warn' }), config });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: address, app, client: new ApiClient(address), admin: new ApiClient(address, { token: TOKEN }), close: () => app.close() };
}

/** A GET answered with status and raw text (for exact JSON checks). */
export async function getText(url: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

const dt = (s: string): DateTime => DateTime.parse(s);

export interface ApiFixture {
  /** Quarantine ids: a notification that distills now, bad JSON, a duplicate of event 1, another cell. */
  readonly quarantine: { readonly good: number; readonly bad: number; readonly duplicate: number; readonly west: number };
  /** The notification behind quarantine.good. */
  readonly goodNotification: Notification;
}

/**
 * Appendix C of the spec, and more. Events 1–4 as winchester's test_db; 5: mixed-case
 * message_id, a `:` in instance_id, µs datetime trait; 6: a tenant and an int beyond 2^53.
 * Streams 1–8 as test_db, 9 firing (leased), 10 expiring, 11 completed.
 */
export async function loadApiFixture(db: TestDatabase): Promise<ApiFixture> {
  const types = new EventTypeIds(db.pool);
  const typeIds = await types.resolve(['test.thing.begin', 'test.thing.end', 'test.otherthing.foo', 'test.more']);
  const events: Event[] = [
    {
      messageId: '1234-5678-001',
      eventType: 'test.thing.begin',
      timestamp: dt('2014-08-01 10:20:45.453201'),
      traits: { instance_id: 'aaaa-bbbb-cccc-dddd', memory_mb: 1024n, test_weight: 20112.42, launched_at: dt('2014-07-01 02:30:45.453201') },
    },
    { messageId: '1234-5678-002', eventType: 'test.thing.end', timestamp: dt('2014-08-01 15:25:45.453201'), traits: { instance_id: 'aaaa-bbbb-cccc-dddd', memory_mb: 2048n } },
    { messageId: '1234-5678-003', eventType: 'test.otherthing.foo', timestamp: dt('2014-08-01 02:10:12'), traits: { instance_id: 'zzzz-xxxx-yyyy-wwww', test_weight: 3.0 } },
    { messageId: '1234-5678-004', eventType: 'test.otherthing.foo', timestamp: dt('2014-08-01 04:57:55.000042'), traits: { instance_id: 'zzzz-xxxx-yyyy-wwww', host: 'compute-1' } },
    {
      messageId: 'Mixed-Case-ID-005',
      eventType: 'test.more',
      timestamp: dt('2014-08-02 00:00:00.000001'),
      traits: { instance_id: 'http://nova:8774/v2/a:b', state_description: 'Rebuilding; step 2', launched_at: dt('2014-08-01 23:59:59.999999') },
    },
    { messageId: '1234-5678-006', eventType: 'test.more', timestamp: dt('2014-08-02 01:00:00'), traits: { tenant_id: 'tenant-9', bytes: 9_007_199_254_740_993n, memory_mb: 512n } },
  ];
  // Only tenant_id and instance_id among these are indexed by default (winchester.yaml indexed_traits).
  await insertEvents(db.pool, events, typeIds, new Set(['instance_id', 'tenant_id', 'request_id', 'user_id']));

  const S = StreamState;
  const streams: [number, string, number, string, string, string | null, string | null][] = [
    [1, 'test_trigger', S.active, '2014-08-01 02:10:12', '2014-08-01 04:57:55.000042', '2014-08-02 04:57:55.000042', null],
    [2, 'another_test_trigger', S.active, '2014-08-01 15:25:45.453201', '2014-08-01 15:25:45.453201', '2014-08-03 15:25:45.453201', null],
    [3, 'fire_test_trigger', S.active, '2014-08-01 10:20:45.453201', '2014-08-01 15:25:45.453201', '2014-08-15 15:25:45.453201', '2014-08-10 06:00:00.000042'],
    [4, 'fire_test_trigger', S.active, '2014-08-01 15:25:45.453201', '2014-08-01 15:25:45.453201', '2014-08-15 15:25:45.453201', '2014-08-11 06:00:00.000042'],
    [5, 'reset_test_trigger', S.error, '2014-08-01 00:00:00', '2014-08-01 00:00:00', '2014-08-02 00:00:00', null],
    [6, 'reset_test_trigger', S.expire_error, '2014-08-01 00:00:00', '2014-08-01 00:00:00', '2014-08-02 00:00:00', null],
    [7, 'reset_test_trigger', S.retry_fire, '2014-08-01 00:00:00', '2014-08-01 00:00:00', '2014-08-02 00:00:00', null],
    [8, 'reset_test_trigger', S.retry_expire, '2014-08-01 00:00:00', '2014-08-01 00:00:00', '2014-08-02 00:00:00', null],
    [9, 'test_trigger', S.firing, '2014-08-03 00:00:00', '2014-08-03 00:00:00', '2014-08-04 00:00:00', '2014-08-03 00:00:00'],
    [10, 'test_trigger', S.expiring, '2014-08-03 00:00:00', '2014-08-03 00:00:00', '2014-08-04 00:00:00', null],
    [11, 'test_trigger', S.completed, '2014-08-03 00:00:00', '2014-08-03 12:00:00.5', '2014-08-04 00:00:00', '2014-08-03 12:00:00.5'],
  ];
  await db.pool.query(
    `INSERT INTO stream (id, name, state, first_event, last_event, expire_timestamp, fire_timestamp, distinguishing_key, fire_counts, event_count, last_error, lease_owner, lease_expires, attempts) VALUES ?`,
    [
      streams.map(([id, name, state, first, last, expire, fire]) => [
        id,
        name,
        state,
        first,
        last,
        expire,
        fire,
        `fixture-${id}`,
        '[0]',
        0,
        state === S.error ? 'usage: U2 launched_at mismatch' : null,
        state === S.firing ? 'host/pipeline-worker-0/42' : null,
        state === S.firing ? '2099-01-01 00:00:00' : null,
        state === S.firing ? 1 : 0,
      ]),
    ],
  );
  await db.pool.query('INSERT INTO streamevent (stream_id, event_id) VALUES (1,3), (1,4), (2,2), (3,2), (3,1), (4,2)');
  await db.pool.query(
    `INSERT INTO dist_trait (stream_id, name, type, dt_string, dt_int, dt_float, dt_datetime, dt_timerange_begin, dt_timerange_end) VALUES
       (1, 'instance_id', 1, 'zzzz-xxxx-yyyy-wwww', NULL, NULL, NULL, NULL, NULL),
       (1, 'memory_mb', 2, NULL, 4096, NULL, NULL, NULL, NULL),
       (1, 'test_weight', 3, NULL, NULL, 3.1415, NULL, NULL, NULL),
       (1, 'launched_at', 4, NULL, NULL, NULL, '2014-07-08 09:40:50.077777', NULL, NULL),
       (1, 'timestamp', 5, NULL, NULL, NULL, NULL, '2014-07-08 00:00:00.000027', '2014-07-09 00:00:00.000027'),
       (2, 'instance_id', 1, 'aaaa-bbbb-cccc-dddd', NULL, NULL, NULL, NULL, NULL),
       (3, 'instance_id', 1, 'aaaa-bbbb-cccc-dddd', NULL, NULL, NULL, NULL, NULL),
       (4, 'instance_id', 1, 'http://nova:8774/v2/a:b', NULL, NULL, NULL, NULL, NULL)`,
  );
  await db.pool.query(`INSERT INTO ingest_cell (cell, events_stored, duplicates, quarantined, last_ingest_at, last_event_at) VALUES ('east', 6, 1, 3, '2014-08-02 01:00:00.250000', '2014-08-02 01:00:00')`);

  const [good] = makeNotifications(1, 7);
  const duplicate = { ...makeNotifications(1, 8)[0]!, message_id: '1234-5678-001' };
  const received = dt('2014-08-02 02:00:00.000001');
  await insertQuarantine(
    db.pool,
    [
      { cell: 'east', queue: 'notifications.info', reason: 'distiller error: definitions were broken', body: Buffer.from(encodeOsloV2(good!)), messageId: String(good!['message_id']), eventType: String(good!['event_type']) },
      { cell: 'east', queue: 'notifications.info', reason: 'body is not JSON', body: Buffer.from('{"oslo.version": "2.0", "oslo.message": "{nope'), properties: { contentType: 'application/json' } },
      { cell: 'east', queue: 'notifications.info', reason: 'distiller error: definitions were broken', body: Buffer.from(JSON.stringify(duplicate)), messageId: '1234-5678-001' },
      { cell: 'west', queue: 'monitor.info', reason: 'not UTF-8', body: Buffer.from([0xff, 0xfe, 0x00, 0x41]) },
    ],
    received,
  );
  const [ids] = await db.pool.query('SELECT id FROM quarantine ORDER BY id');
  const [q1, q2, q3, q4] = (ids as { id: number }[]).map((r) => r.id);
  return { quarantine: { good: q1!, bad: q2!, duplicate: q3!, west: q4! }, goodNotification: good! };
}
