/**
 * Storing events and filing them into streams: the one code path for distilled notifications
 * (yagi-worker), for events that pipeline handlers create, and for quarantine replays, always
 * inside the caller's transaction. Matching is done beforehand (prepareEvent) so a retried
 * transaction repeats only the database work.
 *
 * Two steps, so that a yagi-worker can overlap them across batches without breaking order
 * (invariant 10): insertPreparedEvents writes only the batch's own new rows (events, indexed
 * traits) and may run while the previous batch is still filing; fileStoredEvents takes the
 * stream rows' locks and must run batch after batch in delivery order. storeEvents does both.
 */
import type { Queryable } from '../db/sql.js';
import type { Event } from '../event.js';
import type { DateTime } from '../time.js';
import type { TriggerDefinition } from '../triggers/index.js';
import { matchTriggers, type TriggerMatch } from '../triggers/matching.js';
import { insertEvents, type InsertResult } from './events.js';
import { assignStreams, type StreamCounters } from './streams.js';

export interface PreparedEvent {
  readonly event: Event;
  readonly matches: readonly TriggerMatch[];
  /** "now" for this event's stream work (wall clock, or the event's time under time sync). */
  readonly now: DateTime;
}

export function prepareEvent(triggers: readonly TriggerDefinition[], event: Event, now: DateTime): PreparedEvent {
  return { event, matches: matchTriggers(triggers, event), now };
}

/** The events of a batch after insertPreparedEvents: the new ones with their ids, the duplicates. */
export interface InsertedBatch extends InsertResult {
  readonly prepared: ReadonlyMap<string, PreparedEvent>;
}

export interface StoreResult extends InsertResult {
  readonly counters: StreamCounters;
}

/** Step 1: inserts the events not stored yet (idempotent on message_id, invariant 2). */
export async function insertPreparedEvents(
  conn: Queryable,
  prepared: readonly PreparedEvent[],
  typeIds: ReadonlyMap<string, number>,
  indexedTraits: ReadonlySet<string>,
): Promise<InsertedBatch> {
  const result = await insertEvents(
    conn,
    prepared.map((p) => p.event),
    typeIds,
    indexedTraits,
  );
  const byMessageId = new Map<string, PreparedEvent>();
  for (const p of prepared) if (!byMessageId.has(p.event.messageId)) byMessageId.set(p.event.messageId, p);
  return { ...result, prepared: byMessageId };
}

/** Step 2: files the newly stored events into streams, in batch order (invariants 3, 10). */
export async function fileStoredEvents(conn: Queryable, batch: InsertedBatch): Promise<StreamCounters> {
  return assignStreams(
    conn,
    batch.stored.map((s) => {
      const p = batch.prepared.get(s.event.messageId)!;
      return { eventId: s.id, event: s.event, matches: p.matches, now: p.now };
    }),
  );
}

/** Both steps at once, for callers that do not pipeline (pipeline workers, replays, tests). */
export async function storeEvents(
  conn: Queryable,
  prepared: readonly PreparedEvent[],
  typeIds: ReadonlyMap<string, number>,
  indexedTraits: ReadonlySet<string>,
): Promise<StoreResult> {
  const inserted = await insertPreparedEvents(conn, prepared, typeIds, indexedTraits);
  const counters = await fileStoredEvents(conn, inserted);
  return { stored: inserted.stored, duplicates: inserted.duplicates, counters };
}

/** Adds one transaction's stream counters to the triggers' debuggers (after its commit). */
export function recordCounters(counters: StreamCounters): void {
  for (const [trigger, c] of counters) {
    if (c.newStreams) trigger.debug.bump('New stream', c.newStreams);
    if (c.addedEvents) trigger.debug.bump('Added events', c.addedEvents);
    if (c.readyToFire) trigger.debug.bump('Ready to fire', c.readyToFire);
  }
}
