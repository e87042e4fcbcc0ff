/**
 * Files stored events into streams, inside the caller's transaction (invariant 1: the event
 * and its stream assignment commit together, so a crash leaves both or neither, and the
 * redelivered message does the whole job).
 *
 * For a batch this is a handful of statements whatever its size:
 *   1. lock the open streams of every key the batch touches (SELECT … FOR UPDATE, in key order
 *      so that concurrent batches queue instead of deadlocking); a stream a pipeline worker
 *      has claimed has no open_key any more and is not found, so it never grows after its
 *      events were loaded (spec §10.2);
 *   2. replay upstream's add_event for each event in batch order, in memory: a stream past its
 *      expire_timestamp at that event's "now" is closed and a new one started; first/last
 *      event and expire_timestamp follow every event; fire_timestamp is set (now + fire_delay)
 *      the first time the per-criterion fire counts are all met (incremental, spec §10.6);
 *   3. write: new streams and their distinguishing traits, the changed streams (one upsert),
 *      the stream/event links.
 * A new stream's open_key is unique, so two yagi-workers creating the same stream at once
 * cannot both succeed: the loser gets a duplicate-key error, retries the batch, and then finds
 * and appends to the winner's stream. Ingest runs at READ COMMITTED (no gap locks).
 */
import { randomBytes } from 'node:crypto';
import type { SqlValue } from 'mysql2';
import type { Event } from '../event.js';
import { TraitTypeCode } from '../event.js';
import { insertRows, type Queryable } from '../db/sql.js';
import { DateTime, maxDateTime, minDateTime } from '../time.js';
import { isTimeRangeValue, type DistinguishingValue, type TriggerDefinition } from '../triggers/index.js';
import type { TriggerMatch } from '../triggers/matching.js';
import { loadStreamEvents } from './stream-events.js';

export interface Assignment {
  readonly eventId: number;
  readonly event: Event;
  readonly matches: readonly TriggerMatch[];
  /** "now" for this event (the wall clock, or the event's own time under time sync). */
  readonly now: DateTime;
}

/** Per trigger: upstream's debug counters. */
export interface TriggerCounters {
  newStreams: number;
  addedEvents: number;
  readyToFire: number;
  countsRebuilt: number;
}

/** Per trigger: upstream's debug counters, applied by the caller after the commit. */
export type StreamCounters = Map<TriggerDefinition, TriggerCounters>;

/** A stream as ingest holds it while filing a batch. */
export interface OpenStream {
  id: number | null;
  readonly trigger: TriggerDefinition;
  readonly key: string;
  readonly values: readonly DistinguishingValue[];
  /** Set while open; null once closed. */
  openKey: Buffer | null;
  firstEvent: DateTime;
  lastEvent: DateTime;
  expire: DateTime;
  fire: DateTime | null;
  counts: number[];
  /** The fire_criteria fingerprint the counts were made for (null: unknown, before migration 0005). */
  countsFor: string | null;
  eventCount: number;
  readonly isNew: boolean;
  readonly eventIds: number[];
}

/** One event for one stream key: the event, which fire criteria it meets, its "now". */
export interface StreamEntry {
  readonly eventId: number;
  readonly event: Event;
  readonly hits: readonly boolean[];
  readonly now: DateTime;
}

interface Group {
  readonly match: TriggerMatch;
  readonly entries: StreamEntry[];
}

export async function assignStreams(conn: Queryable, items: readonly Assignment[]): Promise<StreamCounters> {
  const counters: StreamCounters = new Map();
  const groups = new Map<string, Group>();
  for (const item of items) {
    for (const match of item.matches) {
      const hex = match.openKey.toString('hex');
      let group = groups.get(hex);
      if (!group) groups.set(hex, (group = { match, entries: [] }));
      group.entries.push({ eventId: item.eventId, event: item.event, hits: match.hits, now: item.now });
    }
  }
  if (groups.size === 0) return counters;

  const keys = [...groups.keys()].sort();
  const existing = await lockOpenStreams(conn, keys, groups);
  await rebuildStaleCounts(conn, [...existing.values()], counters);
  const touched: OpenStream[] = [];
  for (const hex of keys) {
    const group = groups.get(hex)!;
    const count = countersFor(counters, group.match.trigger);
    let current = existing.get(hex) ?? null;
    if (current) touched.push(current);
    for (const entry of group.entries) {
      const next = addEvent(current, group.match, entry, count);
      if (next !== current) touched.push(next);
      current = next;
    }
  }
  await writeStreams(conn, touched);
  return counters;
}

/**
 * Upstream's add_event for one event, in memory (spec §4.3): a stream past its expiry at the
 * event's "now" is closed and a new one started; first/last event and expire_timestamp follow
 * every event; fire_timestamp is set (now + fire_delay) the first time the per-criterion fire
 * counts are all met. Returns the stream the event joined (`current`, or a new one). Pure:
 * `stv3 check --replay` runs it without a database.
 */
export function addEvent(current: OpenStream | null, match: TriggerMatch, entry: StreamEntry, count: TriggerCounters): OpenStream {
  const ts = entry.event.timestamp;
  if (current && current.expire.compare(entry.now) <= 0) {
    current.openKey = null;
    current = null;
  }
  if (current === null) {
    current = newStream(match, ts);
    count.newStreams++;
  } else {
    current.firstEvent = minDateTime(current.firstEvent, ts);
    current.lastEvent = maxDateTime(current.lastEvent, ts);
  }
  const trigger = current.trigger;
  current.expire = trigger.expirationFor(current.firstEvent, current.lastEvent, entry.now);
  current.counts = trigger.addHits(current.counts, entry.hits);
  current.eventCount++;
  current.eventIds.push(entry.eventId);
  count.addedEvents++;
  if (current.fire === null && trigger.shouldFire(current.counts)) {
    current.fire = entry.now.plusSeconds(trigger.fireDelaySeconds);
    count.readyToFire++;
  }
  return current;
}

async function lockOpenStreams(conn: Queryable, keys: readonly string[], groups: ReadonlyMap<string, Group>): Promise<Map<string, OpenStream>> {
  const [rows] = await conn.query(
    'SELECT id, open_key, first_event, last_event, expire_timestamp, fire_timestamp, fire_counts, fire_criteria, event_count FROM stream WHERE open_key IN (?) ORDER BY open_key FOR UPDATE',
    [keys.map((k) => Buffer.from(k, 'hex'))],
  );
  const found = new Map<string, OpenStream>();
  for (const r of rows as { id: number; open_key: Buffer; first_event: string; last_event: string; expire_timestamp: string | null; fire_timestamp: string | null; fire_counts: string; fire_criteria: string | null; event_count: number }[]) {
    const hex = r.open_key.toString('hex');
    const match = groups.get(hex)!.match;
    found.set(hex, {
      id: r.id,
      trigger: match.trigger,
      key: match.key,
      values: match.values,
      openKey: r.open_key,
      firstEvent: DateTime.parse(r.first_event),
      lastEvent: DateTime.parse(r.last_event),
      // A stream without expiry never expires (only reachable with hand-made rows).
      expire: r.expire_timestamp === null ? DateTime.of(9999, 12, 31) : DateTime.parse(r.expire_timestamp),
      fire: r.fire_timestamp === null ? null : DateTime.parse(r.fire_timestamp),
      counts: JSON.parse(r.fire_counts) as number[],
      countsFor: r.fire_criteria,
      eventCount: r.event_count,
      isNew: false,
      eventIds: [],
    });
  }
  return found;
}

function newStream(match: TriggerMatch, ts: DateTime): OpenStream {
  return {
    id: null,
    trigger: match.trigger,
    key: match.key,
    values: match.values,
    openKey: match.openKey,
    firstEvent: ts,
    lastEvent: ts,
    expire: ts,
    fire: null,
    counts: match.trigger.initialFireCounts(),
    countsFor: match.trigger.fireCriteriaKey,
    eventCount: 0,
    isNew: true,
    eventIds: [],
  };
}

export function countersFor(counters: StreamCounters, trigger: TriggerDefinition): TriggerCounters {
  let c = counters.get(trigger);
  if (!c) counters.set(trigger, (c = { newStreams: 0, addedEvents: 0, readyToFire: 0, countsRebuilt: 0 }));
  return c;
}

/**
 * Streams whose fire counts were made for other fire criteria (triggers.yaml changed while
 * they were open) get them recounted from their events, in this transaction, before the new
 * events are added: the counts then always mean what the trigger now says (issue 13).
 */
async function rebuildStaleCounts(conn: Queryable, streams: readonly OpenStream[], counters: StreamCounters): Promise<void> {
  const stale = streams.filter((s) => s.countsFor !== s.trigger.fireCriteriaKey || s.counts.length !== s.trigger.fireCriteria.length);
  if (stale.length === 0) return;
  const events = await loadStreamEvents(conn, stale.map((s) => s.id!));
  for (const s of stale) {
    let counts = s.trigger.initialFireCounts();
    for (const e of events.get(s.id!) ?? []) counts = s.trigger.addHits(counts, s.trigger.fireCriteriaHits(e));
    s.counts = counts;
    s.countsFor = s.trigger.fireCriteriaKey;
    countersFor(counters, s.trigger).countsRebuilt++;
  }
}

const STREAM_COLUMNS = 'name, state, state_serial_no, first_event, last_event, expire_timestamp, fire_timestamp, distinguishing_key, open_key, fire_counts, fire_criteria, event_count';

function streamValues(s: OpenStream, openKey = s.openKey): SqlValue[] {
  return [s.trigger.name, 1, 0, s.firstEvent.toSql(), s.lastEvent.toSql(), s.expire.toSql(), s.fire?.toSql() ?? null, s.key, openKey, JSON.stringify(s.counts), s.countsFor, s.eventCount];
}

async function writeStreams(conn: Queryable, touched: readonly OpenStream[]): Promise<void> {
  const created = touched.filter((s) => s.isNew);
  const updated = touched.filter((s) => !s.isNew);

  // Existing streams first: one may be closed here, freeing its open_key for a new stream.
  if (updated.length > 0) {
    await insertRows(
      conn,
      `INSERT INTO stream (id, ${STREAM_COLUMNS}) VALUES`,
      updated.map((s) => [s.id!, ...streamValues(s)]),
      'ON DUPLICATE KEY UPDATE first_event = VALUES(first_event), last_event = VALUES(last_event), expire_timestamp = VALUES(expire_timestamp), ' +
        'fire_timestamp = VALUES(fire_timestamp), open_key = VALUES(open_key), fire_counts = VALUES(fire_counts), fire_criteria = VALUES(fire_criteria), event_count = VALUES(event_count)',
    );
  }
  // New streams get their ids back through their unique open_key. One that a later event of
  // the same batch already closed is inserted under a random placeholder key, closed after.
  if (created.length > 0) {
    const insertKeys = created.map((s) => s.openKey ?? randomBytes(32));
    await insertRows(conn, `INSERT INTO stream (${STREAM_COLUMNS}) VALUES`, created.map((s, i) => streamValues(s, insertKeys[i]!)));
    const [rows] = await conn.query('SELECT id, open_key FROM stream WHERE open_key IN (?)', [insertKeys]);
    const ids = new Map((rows as { id: number; open_key: Buffer }[]).map((r) => [r.open_key.toString('hex'), r.id]));
    created.forEach((s, i) => (s.id = ids.get(insertKeys[i]!.toString('hex'))!));
    const closed = created.filter((s) => s.openKey === null).map((s) => s.id);
    if (closed.length > 0) await conn.query('UPDATE stream SET open_key = NULL WHERE id IN (?)', [closed]);
  }
  if (created.length > 0) {
    await insertRows(
      conn,
      'INSERT INTO dist_trait (stream_id, name, type, dt_string, dt_int, dt_float, dt_datetime, dt_timerange_begin, dt_timerange_end) VALUES',
      created.flatMap((s) => s.values.map((v) => [s.id!, v.name, ...distTraitColumns(v)])),
    );
  }
  const links = touched.flatMap((s) => s.eventIds.map((e) => [s.id!, e]));
  if (links.length > 0) await insertRows(conn, 'INSERT INTO streamevent (stream_id, event_id) VALUES', links);
}

/** type, dt_string, dt_int, dt_float, dt_datetime, dt_timerange_begin, dt_timerange_end. */
function distTraitColumns({ value: v }: DistinguishingValue): SqlValue[] {
  if (v === null) return [TraitTypeCode.none, null, null, null, null, null, null];
  if (isTimeRangeValue(v)) return [TraitTypeCode.timerange, null, null, null, null, v.begin.toSql(), v.end.toSql()];
  if (typeof v === 'string') return [TraitTypeCode.text, v, null, null, null, null, null];
  if (typeof v === 'bigint') return [TraitTypeCode.int, null, v, null, null, null, null];
  if (typeof v === 'number') return [TraitTypeCode.float, null, null, Number.isFinite(v) ? v : null, null, null, null];
  return [TraitTypeCode.datetime, null, null, null, v.toSql(), null, null];
}
