/**
 * Storing events and filing them into streams: the one code path for distilled notifications
 * (yagi-worker) and for events that pipeline handlers create, always inside the caller's
 * transaction. Matching is done beforehand (prepareEvent) so a retried transaction repeats
 * only the database work.
 */
import type { Event } from '../event.js';
import { insertEvents, type InsertResult } from './events.js';
import type { Queryable } from '../db/sql.js';
import type { DateTime } from '../time.js';
import type { TriggerDefinition } from '../triggers/index.js';
import { matchTriggers, type TriggerMatch } from '../triggers/matching.js';
import { assignStreams, type StreamCounters } from './streams.js';

export interface PreparedEvent {
  readonly event: Event;
  readonly matches: readonly TriggerMatch[];
  readonly now: DateTime;
}

export function prepareEvent(triggers: readonly TriggerDefinition[], event: Event, now: DateTime): PreparedEvent {
  return { event, matches: matchTriggers(triggers, event), now };
}

export interface StoreResult extends InsertResult {
  readonly counters: StreamCounters;
}

export async function storeEvents(
  conn: Queryable,
  prepared: readonly PreparedEvent[],
  typeIds: ReadonlyMap<string, number>,
  indexedTraits: ReadonlySet<string>,
): Promise<StoreResult> {
  const result = await insertEvents(conn, prepared.map((p) => p.event), typeIds, indexedTraits);
  const byMessageId = new Map<string, PreparedEvent>();
  for (const p of prepared) if (!byMessageId.has(p.event.messageId)) byMessageId.set(p.event.messageId, p);
  const counters = await assignStreams(
    conn,
    result.stored.map((s) => {
      const p = byMessageId.get(s.event.messageId)!;
      return { eventId: s.id, event: s.event, matches: p.matches, now: p.now };
    }),
  );
  return { ...result, counters };
}

/** Adds one transaction's stream counters to the triggers' debuggers (after its commit). */
export function recordCounters(counters: StreamCounters): void {
  for (const [trigger, c] of counters) {
    if (c.newStreams) trigger.debug.bump('New stream', c.newStreams);
    if (c.addedEvents) trigger.debug.bump('Added events', c.addedEvents);
    if (c.readyToFire) trigger.debug.bump('Ready to fire', c.readyToFire);
  }
}
