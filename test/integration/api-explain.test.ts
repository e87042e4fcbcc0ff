/**
 * The plans of the API's queries (one test per operation family in src/shared/store): every
 * statement a request runs is captured and EXPLAINed on a database big enough for the
 * optimizer to mean it (30,000 events, 10,000 streams). A bounded request never scans
 * `event`, `streamevent` or `stream` in full: no `ALL` access, and an `index` walk only in key
 * order under a LIMIT (it stops after the page).
 */
import type { RowDataPacket } from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/shared/db/sql.js';
import { explainStream } from '../../src/shared/store/explain-stream.js';
import { countEvents, findEvents, getEventByMessageId, getEventsByIds, type EventQuery } from '../../src/shared/store/find-events.js';
import { countStreams, findStreams, getStream, listStreamEventIds, type StreamQuery } from '../../src/shared/store/find-streams.js';
import { readSystemStatus } from '../../src/shared/store/metrics-queries.js';
import { countQuarantine, getQuarantined, listQuarantine } from '../../src/shared/store/quarantine-queries.js';
import type { Page } from '../../src/shared/store/query-terms.js';
import { DateTime } from '../../src/shared/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const EVENTS = 30_000;
const STREAMS = 10_000;
const LIMITS = { indexedTraits: new Set(['instance_id', 'tenant_id']), maxScanSeconds: 86_400 };
const PAGE: Page = { direction: 'desc', after: null, limit: 200 };
const FULL_SCAN_GUARDED = new Set(['event', 'stream', 'streamevent', 'e', 's', 'se']);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  const q = (sql: string): Promise<unknown> => db.pool.query(sql);
  await q("INSERT INTO event_type (`desc`) VALUES ('compute.instance.create.start'), ('compute.instance.create.end'), ('compute.instance.exists'), ('compute.instance.update'), ('image.upload')");
  // one event a minute from 2015-02-01, instance i-<n % 2000>, a non-indexed host trait
  await q(`INSERT INTO event (message_id, generated, event_type_id, traits)
           SELECT CONCAT('msg-', seq), '2015-02-01' + INTERVAL seq MINUTE, 1 + seq % 5,
                  JSON_OBJECT('instance_id', CONCAT('i-', seq % 2000), 'host', CONCAT('compute-', seq % 50), 'memory_mb', JSON_OBJECT('i', CAST(512 * (1 + seq % 4) AS CHAR)))
             FROM seq_1_to_${EVENTS}`);
  await q(`INSERT INTO trait (event_id, name, type, t_string) SELECT id, 'instance_id', 1, JSON_VALUE(traits, '$.instance_id') FROM event`);
  await q(`INSERT INTO stream (name, state, first_event, last_event, expire_timestamp, fire_timestamp, distinguishing_key, fire_counts, event_count)
           SELECT CONCAT('trigger_', seq % 4), 1 + seq % 8, '2015-02-01' + INTERVAL seq * 3 MINUTE, '2015-02-01' + INTERVAL seq * 3 + 2 MINUTE,
                  '2015-02-02' + INTERVAL seq * 3 MINUTE, IF(seq % 2 = 0, '2015-02-01' + INTERVAL seq * 3 + 5 MINUTE, NULL), CONCAT('k', seq), '[0]', 3
             FROM seq_1_to_${STREAMS}`);
  await q(`INSERT INTO dist_trait (stream_id, name, type, dt_string) SELECT id, 'instance_id', 1, CONCAT('i-', id % 2000) FROM stream`);
  await q(`INSERT INTO streamevent (stream_id, event_id) SELECT s.id, s.id * 3 - k.seq FROM stream s JOIN seq_0_to_2 k`);
  await q(`INSERT INTO quarantine (received_at, cell, queue, reason, body, body_size) SELECT '2015-02-01' + INTERVAL seq MINUTE, 'east', 'q', 'bad', 'x', 1 FROM seq_1_to_500`);
  await q('ANALYZE TABLE event, trait, stream, dist_trait, streamevent, quarantine');
});
afterAll(async () => {
  await db.close();
});

interface PlanRow {
  table: string;
  type: string;
  key: string | null;
  rows: number;
  Extra: string | null;
}

/** Runs fn against a recorder; returns the plan of every SELECT it issued. */
async function plansOf(fn: (db: Queryable) => Promise<unknown>): Promise<{ sql: string; plan: PlanRow[] }[]> {
  const statements: { sql: string; params: unknown }[] = [];
  const recorder = {
    query: (sql: string, params?: unknown) => {
      statements.push({ sql, params });
      return db.pool.query(sql, params as never[]);
    },
  } as unknown as Queryable;
  await fn(recorder);
  const out = [];
  for (const s of statements.filter((st) => /^\s*SELECT/i.test(st.sql))) {
    const [plan] = await db.pool.query<RowDataPacket[]>(`EXPLAIN ${s.sql}`, s.params as never[]);
    out.push({ sql: s.sql, plan: plan as unknown as PlanRow[] });
  }
  return out;
}

/** No full scan of the guarded tables; an index walk only under LIMIT, in key order. */
function expectBounded(plans: { sql: string; plan: PlanRow[] }[]): void {
  expect(plans.length).toBeGreaterThan(0);
  for (const { sql, plan } of plans) {
    for (const row of plan) {
      if (!FULL_SCAN_GUARDED.has(row.table)) continue;
      const where = `${sql}\n${JSON.stringify(plan)}`;
      expect(row.type, where).not.toBe('ALL');
      if (row.type === 'index') {
        expect(sql, where).toMatch(/LIMIT \?/);
        expect(row.Extra ?? '', where).not.toMatch(/filesort/);
      }
    }
  }
}

function keyOf(plans: { plan: PlanRow[] }[], table: string): (string | null)[] {
  return plans.flatMap((p) => p.plan.filter((r) => r.table === table).map((r) => r.key));
}

const at = (s: string): DateTime => DateTime.parse(s);

describe('find-streams', () => {
  const cases: [string, StreamQuery, Page?][] = [
    ['no filter', {}],
    ['a mark', {}, { direction: 'asc', after: 5000, limit: 200 }],
    ['trigger name', { triggerName: 'trigger_2' }],
    ['state', { state: 4 }],
    ['state and trigger', { state: 4, triggerName: 'trigger_3' }],
    ['a string distinguishing trait', { traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-42' }] }],
    ['time bounds', { olderThan: at('2015-02-10 00:00:00'), youngerThan: at('2015-02-09 00:00:00') }],
    ['an int distinguishing trait', { traits: [{ name: 'memory_mb', op: 'ge', type: 'int', value: 1024n }] }],
  ];
  it.each(cases)('lists by %s without a full scan', async (_name, query, page = PAGE) => {
    const plans = await plansOf((q) => findStreams(q, query, page));
    expectBounded(plans);
  });

  it('drives a distinguishing-trait search from ix_dist_trait_string, a state from ix_stream_state, a name from ix_stream_name', async () => {
    expect(keyOf(await plansOf((q) => findStreams(q, { traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-42' }] }, PAGE)), 'd0')).toEqual(['ix_dist_trait_string']);
    expect(keyOf(await plansOf((q) => findStreams(q, { state: 4 }, PAGE)), 's')).toEqual(['ix_stream_state']);
    expect(keyOf(await plansOf((q) => findStreams(q, { triggerName: 'trigger_2' }, PAGE)), 's')).toEqual(['ix_stream_name']);
  });

  it('counts, gets one, and loads details without a full scan', async () => {
    expectBounded(await plansOf((q) => countStreams(q, { state: 6 }, PAGE)));
    expectBounded(await plansOf((q) => countStreams(q, { traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-7' }] }, PAGE)));
    expectBounded(await plansOf((q) => getStream(q, 77)));
    const ids = (await findStreams(db.pool, {}, { ...PAGE, limit: 100 })).map((s) => s.id);
    expectBounded(await plansOf((q) => listStreamEventIds(q, ids)));
    expectBounded(await plansOf((q) => getEventsByIds(q, [5, 500, 5000])));
  });
});

describe('find-events', () => {
  const hour = { from: at('2015-02-10 00:00:00'), to: at('2015-02-10 01:00:00') };
  const cases: [string, EventQuery][] = [
    ['no filter', {}],
    ['a one-hour window', hour],
    ['an event type in a window', { ...hour, eventName: 'compute.instance.exists' }],
    ['an indexed trait', { traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-42' }] }],
    ['an indexed trait and a type', { eventName: 'image.upload', traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-42' }] }],
    ['an indexed trait and a non-indexed one', { traits: [{ name: 'instance_id', op: 'eq', type: 'string', value: 'i-42' }, { name: 'host', op: 'eq', type: 'string', value: 'compute-2' }] }],
    ['a non-indexed trait in a window', { ...hour, traits: [{ name: 'host', op: 'eq', type: 'string', value: 'compute-2' }] }],
    ['a typed non-indexed trait with a type in a window', { ...hour, eventName: 'compute.instance.update', traits: [{ name: 'memory_mb', op: 'ge', type: 'int', value: 1024n }] }],
  ];
  it.each(cases)('finds by %s without a full scan', async (_name, query) => {
    expectBounded(await plansOf((q) => findEvents(q, query, PAGE, LIMITS)));
    // An unfiltered count asks for every event: it reads an index in full, by request.
    if (Object.keys(query).length > 0) expectBounded(await plansOf((q) => countEvents(q, query, PAGE, LIMITS)));
  });

  it('reads a non-indexed trait through the time index, an indexed one through ix_trait_string', async () => {
    expect(keyOf(await plansOf((q) => findEvents(q, cases[6]![1], PAGE, LIMITS)), 'e')).toEqual(['ix_event_generated']);
    expect(keyOf(await plansOf((q) => findEvents(q, cases[7]![1], PAGE, LIMITS)), 'e')).toEqual(['ix_event_type_generated']);
    expect(keyOf(await plansOf((q) => findEvents(q, cases[3]![1], PAGE, LIMITS)), 't0')).toEqual(['ix_trait_string']);
    expect(keyOf(await plansOf((q) => getEventByMessageId(q, 'msg-77')), 'event')).toEqual(['uq_event_message_id']);
  });
});

describe('explain, status, quarantine', () => {
  it('explains one stream by primary key', async () => {
    expectBounded(await plansOf((q) => explainStream(q, 99, { triggers: [], maxAttempts: 3 })));
  });

  it('finds the oldest due stream through the (state, timestamp) indexes', async () => {
    const plans = (await plansOf((q) => readSystemStatus(q, at('2015-02-05 00:00:00')))).filter((p) => /LIMIT 1/.test(p.sql));
    expect(plans).toHaveLength(4);
    expectBounded(plans);
    expect(keyOf(plans, 'stream').every((k) => k === 'ix_stream_state_fire' || k === 'ix_stream_state_expire')).toBe(true);
  });

  it('lists the quarantine by primary key', async () => {
    for (const plan of await plansOf(async (q) => {
      await listQuarantine(q, {}, PAGE);
      await countQuarantine(q, { cell: 'east' }, PAGE);
      await getQuarantined(q, 3);
    })) {
      expect(plan.plan.every((r) => r.type !== 'ALL' || /COUNT/.test(plan.sql))).toBe(true);
    }
  });
});
