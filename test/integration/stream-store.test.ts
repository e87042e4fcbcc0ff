/**
 * The stream store against a real MariaDB, called directly: creation, appends, expiry, fire
 * readiness, claimed streams never growing, and the unique open key under concurrency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventTypeIds } from '../../src/shared/store/events.js';
import { inTransaction } from '../../src/shared/db/sql.js';
import type { Event } from '../../src/shared/event.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { prepareEvent, storeEvents, type PreparedEvent, type StoreResult } from '../../src/shared/store/batch.js';
import { DateTime } from '../../src/shared/time.js';
import { triggerDefinitionsFromValue, type TriggerDefinition } from '../../src/shared/triggers/index.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
let types: EventTypeIds;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  types = new EventTypeIds(db.pool);
});
afterAll(async () => {
  await db.close();
});

const TRIGGERS: TriggerDefinition[] = triggerDefinitionsFromValue(
  [
    {
      name: 'per_instance_day',
      distinguished_by: ['instance_id', { timestamp: 'day' }],
      expiration: '$last + 1h',
      fire_pipeline: 'p',
      fire_delay: 30,
      match_criteria: [{ event_type: ['compute.instance.*', '!compute.instance.exists'] }, { event_type: 'compute.instance.exists', map_distinguished_by: { timestamp: 'audit_period_beginning' } }],
      fire_criteria: [{ event_type: 'compute.instance.exists' }, { event_type: 'compute.instance.*.end', number: 2 }],
    },
    { name: 'by_tenant', distinguished_by: ['tenant_id'], expiration: '$first + 1d', expire_pipeline: 'p', match_criteria: [{ event_type: '*' }], fire_criteria: [{ event_type: 'never' }] },
  ],
  'test-triggers.yaml',
);

let seq = 0;
function ev(eventType: string, at: string, traits: Record<string, Event['traits'][string]> = {}): Event {
  return { messageId: `m-${++seq}`, eventType, timestamp: DateTime.parse(at), traits: { instance_id: 'i-1', tenant_id: 't-1', ...traits } };
}

async function ingest(events: Event[], now?: (e: Event) => DateTime): Promise<void> {
  const prepared: PreparedEvent[] = events.map((e) => prepareEvent(TRIGGERS, e, now ? now(e) : e.timestamp));
  const typeIds = await types.resolve(events.map((e) => e.eventType));
  const conn = await db.pool.getConnection();
  try {
    await inTransaction(conn, () => storeEvents(conn, prepared, typeIds, new Set()));
  } finally {
    conn.release();
  }
}

interface StreamRowView {
  id: number;
  name: string;
  state: number;
  first_event: string;
  last_event: string;
  expire_timestamp: string;
  fire_timestamp: string | null;
  fire_counts: string;
  event_count: number;
  open: number;
  events: string;
}
async function streams(instance: string): Promise<StreamRowView[]> {
  const [rows] = await db.pool.query(
    `SELECT s.id, s.name, s.state, s.first_event, s.last_event, s.expire_timestamp, s.fire_timestamp, s.fire_counts, s.event_count, s.open_key IS NOT NULL AS open,
            GROUP_CONCAT(CONVERT(e.message_id USING utf8mb4) ORDER BY e.id) AS events
       FROM stream s JOIN dist_trait d ON d.stream_id = s.id AND d.name = 'instance_id' AND d.dt_string = ?
       LEFT JOIN streamevent se ON se.stream_id = s.id LEFT JOIN event e ON e.id = se.event_id
      WHERE s.name = 'per_instance_day' GROUP BY s.id ORDER BY s.id`,
    [instance],
  );
  return rows as StreamRowView[];
}

describe('stream store', () => {
  it('creates one stream per key, appends in order, keeps first/last/expire, stores typed distinguishing traits', async () => {
    const a = ev('compute.instance.create.start', '2015-02-27 10:00:00.000001', { instance_id: 'i-a' });
    const b = ev('compute.instance.create.end', '2015-02-27 10:05:00.5', { instance_id: 'i-a' });
    const c = ev('compute.instance.update', '2015-02-27 09:59:59.999999', { instance_id: 'i-a' }); // earlier than a
    await ingest([a, b]);
    await ingest([c]);
    const [s] = await streams('i-a');
    expect(s).toMatchObject({ state: StreamState.active, first_event: '2015-02-27 09:59:59.999999', last_event: '2015-02-27 10:05:00.500000', expire_timestamp: '2015-02-27 11:05:00.500000', event_count: 3, open: 1, events: `${a.messageId},${b.messageId},${c.messageId}` });
    const [dist] = await db.pool.query('SELECT name, type, dt_string, dt_timerange_begin, dt_timerange_end FROM dist_trait WHERE stream_id = ? ORDER BY name', [s!.id]);
    expect(dist).toEqual([
      { name: 'instance_id', type: 1, dt_string: 'i-a', dt_timerange_begin: null, dt_timerange_end: null },
      { name: 'timestamp', type: 5, dt_string: null, dt_timerange_begin: '2015-02-27 00:00:00.000000', dt_timerange_end: '2015-02-28 00:00:00.000000' },
    ]);
  });

  it('files an EOD .exists into the day of its audit period, and sets fire_timestamp once, now + fire_delay, when every fire criterion is met', async () => {
    const i = { instance_id: 'i-b' };
    await ingest([ev('compute.instance.create.end', '2015-02-27 10:00:00', i)]);
    const exists = ev('compute.instance.exists', '2015-02-28 00:10:00', { ...i, audit_period_beginning: DateTime.parse('2015-02-27 00:00:00'), audit_period_ending: DateTime.parse('2015-02-28 00:00:00') });
    // Its own timestamp is on the 28th, but the stream of the 27th is still open (now = 27th 10:30).
    await ingest([exists], () => DateTime.parse('2015-02-27 10:30:00'));
    let [s] = await streams('i-b');
    expect(s).toMatchObject({ event_count: 2, fire_timestamp: null, fire_counts: '[1,1]' }); // needs two *.end
    await ingest([ev('compute.instance.delete.end', '2015-02-27 10:40:00', i)], () => DateTime.parse('2015-02-27 10:41:00.25'));
    [s] = await streams('i-b');
    expect(s).toMatchObject({ event_count: 3, fire_timestamp: '2015-02-27 10:41:30.250000', fire_counts: '[1,2]' });
    await ingest([ev('compute.instance.update', '2015-02-27 10:50:00', i)], () => DateTime.parse('2015-02-27 10:51:00'));
    [s] = await streams('i-b');
    expect(s).toMatchObject({ event_count: 4, fire_timestamp: '2015-02-27 10:41:30.250000' });
    expect(await streams('i-b')).toHaveLength(1);
  });

  it('starts a new stream when the open one is past expiry at the event\'s now, also inside one batch', async () => {
    const i = { instance_id: 'i-c' };
    const e1 = ev('compute.instance.update', '2015-03-01 01:00:00', i);
    const e2 = ev('compute.instance.update', '2015-03-01 01:30:00', i);
    const e3 = ev('compute.instance.update', '2015-03-01 03:00:00', i); // more than 1h after e2
    const e4 = ev('compute.instance.update', '2015-03-01 03:10:00', i);
    await ingest([e1, e2, e3]);
    await ingest([e4]);
    const s = await streams('i-c');
    expect(s.map((r) => [r.events, r.open, r.state])).toEqual([
      [`${e1.messageId},${e2.messageId}`, 0, StreamState.active], // closed to ingest, still to be expired by a worker
      [`${e3.messageId},${e4.messageId}`, 1, StreamState.active],
    ]);
  });

  it('never appends to a stream a pipeline worker has claimed: the next event opens a new one', async () => {
    const i = { instance_id: 'i-d' };
    const e1 = ev('compute.instance.update', '2015-03-02 01:00:00', i);
    await ingest([e1]);
    const [s] = await streams('i-d');
    await db.pool.query('UPDATE stream SET state = ?, open_key = NULL WHERE id = ?', [StreamState.firing, s!.id]);
    const e2 = ev('compute.instance.update', '2015-03-02 01:01:00', i);
    await ingest([e2]);
    const after = await streams('i-d');
    expect(after.map((r) => [r.events, r.state])).toEqual([
      [e1.messageId, StreamState.firing],
      [e2.messageId, StreamState.active],
    ]);
  });

  it('puts an event into one stream per matching trigger, and no event twice into a stream', async () => {
    const e = ev('compute.instance.update', '2015-03-03 01:00:00', { instance_id: 'i-e', tenant_id: 't-e' });
    await ingest([e, { ...e }]); // same message twice in a batch: stored and filed once
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent se JOIN event e ON e.id = se.event_id WHERE e.message_id = ?', [e.messageId])).toBe(2);
  });

  it('two transactions creating the same stream at once: one waits, then appends; one open stream per key', async () => {
    const i = { instance_id: 'i-f' };
    const e1 = ev('compute.instance.update', '2015-03-04 01:00:00', i);
    const e2 = ev('compute.instance.update', '2015-03-04 01:00:01', i);
    const typeIds = await types.resolve(['compute.instance.update']);
    const [c1, c2] = await Promise.all([db.pool.getConnection(), db.pool.getConnection()]);
    try {
      await c1.beginTransaction();
      await storeEvents(c1, [prepareEvent(TRIGGERS, e1, e1.timestamp)], typeIds, new Set());
      await c2.beginTransaction();
      // c2 blocks on c1's new open_key; when c1 commits, c2's locking read finds the stream.
      const second = storeEvents(c2, [prepareEvent(TRIGGERS, e2, e2.timestamp)], typeIds, new Set()).then(() => c2.commit());
      await new Promise((r) => setTimeout(r, 200));
      await c1.commit();
      await second.catch(async (err: { code?: string }) => {
        // Or the insert lost the race on the unique key: the ingest retry does it again.
        expect(err.code).toBe('ER_DUP_ENTRY');
        await c2.rollback();
        await c2.beginTransaction();
        await storeEvents(c2, [prepareEvent(TRIGGERS, e2, e2.timestamp)], typeIds, new Set());
        await c2.commit();
      });
    } finally {
      c1.release();
      c2.release();
    }
    const s = await streams('i-f');
    expect(s).toHaveLength(1);
    expect(s[0]!.events).toBe(`${e1.messageId},${e2.messageId}`);
  });
});

describe('fire_criteria changed while streams are open (issue 13)', () => {
  const before = triggerDefinitionsFromValue(
    [{ name: 'changing', distinguished_by: ['instance_id'], expiration: '$last + 1d', fire_pipeline: 'p', match_criteria: [{ event_type: 'x.*' }], fire_criteria: [{ event_type: 'x.end', number: 2 }] }],
    'before.yaml',
  );
  async function ingestWith(triggers: TriggerDefinition[], events: Event[]): Promise<StoreResult> {
    const typeIds = await types.resolve(events.map((e) => e.eventType));
    const conn = await db.pool.getConnection();
    try {
      return await inTransaction(conn, () => storeEvents(conn, events.map((e) => prepareEvent(triggers, e, e.timestamp)), typeIds, new Set()));
    } finally {
      conn.release();
    }
  }
  const row = async (instance: string): Promise<{ fire_counts: string; fire_timestamp: string | null; event_count: number }> =>
    ((await db.pool.query("SELECT fire_counts, fire_timestamp, event_count FROM stream WHERE name = 'changing' AND distinguishing_key LIKE ?", [`%${instance}%`]))[0] as never[])[0]!;

  it('a different number of criteria: the counts are rebuilt from the stream’s events, no error, and it fires when the new criteria are met', async () => {
    const x = (type: string, at: string): Event => ({ messageId: `fc-${++seq}`, eventType: type, timestamp: DateTime.parse(at), traits: { instance_id: 'fc-1' } });
    await ingestWith(before, [x('x.start', '2015-01-01 10:00:00'), x('x.end', '2015-01-01 10:01:00')]);
    expect(await row('fc-1')).toMatchObject({ fire_counts: '[1]', fire_timestamp: null });
    const after = triggerDefinitionsFromValue(
      [{ name: 'changing', distinguished_by: ['instance_id'], expiration: '$last + 1d', fire_pipeline: 'p', match_criteria: [{ event_type: 'x.*' }], fire_criteria: [{ event_type: 'x.start' }, { event_type: 'x.end' }, { event_type: 'x.audit' }] }],
      'after.yaml',
    );
    const result = await ingestWith(after, [x('x.audit', '2015-01-01 10:02:00')]);
    expect(await row('fc-1')).toMatchObject({ fire_counts: '[1,1,1]', fire_timestamp: '2015-01-01 10:02:00.000000', event_count: 3 });
    expect(result.counters.get(after[0]!)?.countsRebuilt).toBe(1);
  });

  it('the same number of criteria meaning something else: the old counts are not reused', async () => {
    const x = (type: string, at: string): Event => ({ messageId: `fc-${++seq}`, eventType: type, timestamp: DateTime.parse(at), traits: { instance_id: 'fc-2' } });
    await ingestWith(before, [x('x.end', '2015-01-01 10:00:00')]);
    expect(await row('fc-2')).toMatchObject({ fire_counts: '[1]' });
    // Now one x.start is needed: the old count (one x.end) must not count for it.
    const after = triggerDefinitionsFromValue(
      [{ name: 'changing', distinguished_by: ['instance_id'], expiration: '$last + 1d', fire_pipeline: 'p', match_criteria: [{ event_type: 'x.*' }], fire_criteria: [{ event_type: 'x.start' }] }],
      'after.yaml',
    );
    await ingestWith(after, [x('x.update', '2015-01-01 10:01:00')]);
    expect(await row('fc-2')).toMatchObject({ fire_counts: '[0]', fire_timestamp: null });
    await ingestWith(after, [x('x.start', '2015-01-01 10:02:00')]);
    expect(await row('fc-2')).toMatchObject({ fire_counts: '[1]', fire_timestamp: '2015-01-01 10:02:00.000000' });
  });
});
