/**
 * Replaying quarantined messages after a fix (POST /v2/quarantine/replay): each body goes the
 * way a delivery goes in the yagi-worker (oslo envelope → distill with the loaded
 * event_definitions.yaml → the storage checks → trigger matching), then in ONE transaction the
 * event is stored and filed into streams (storeEvents, idempotent on message_id) and the
 * quarantine row deleted. The row is locked in that transaction, so two replays of one id
 * cannot both store it. A message that still fails stays, with its reason updated.
 *
 * Outcomes per id: stored · duplicate (its message_id was already stored; the row is deleted) ·
 * poison (still failing, or a value the database rejects, as ingest blames it; reason) ·
 * not_found (no such row, e.g. replayed already). Other database errors fail the request.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { decodeNotification } from '../shared/amqp/oslo.js';
import { classifyDbError, describeDbError } from '../shared/db/errors.js';
import { retryTransient } from '../shared/db/retry.js';
import { withTransaction } from '../shared/db/sql.js';
import type { Distiller } from '../shared/distiller/index.js';
import { PoisonMessageError, toError } from '../shared/errors.js';
import type { Event } from '../shared/event.js';
import { prepareEvent, recordCounters, storeEvents, type PreparedEvent } from '../shared/store/batch.js';
import { assertStorable, EventTypeIds, rejectedContentReason } from '../shared/store/events.js';
import { deleteQuarantined, getQuarantined, updateQuarantineReason } from '../shared/store/quarantine-queries.js';
import { DateTime } from '../shared/time.js';
import type { TriggerDefinition } from '../shared/triggers/index.js';

export type ReplayOutcome =
  | { readonly id: number; readonly outcome: 'stored' | 'duplicate'; readonly message_id: string; readonly event_type: string }
  | { readonly id: number; readonly outcome: 'poison'; readonly reason: string }
  | { readonly id: number; readonly outcome: 'not_found' };

export interface ReplayContext {
  readonly pool: Pool;
  readonly distiller: Distiller;
  readonly triggers: readonly TriggerDefinition[];
  readonly indexedTraits: ReadonlySet<string>;
  readonly eventTypes: EventTypeIds;
  readonly log: Logger;
  /** Time-sync (replay) mode: an event's own time is "now" for its stream work, as in ingest. */
  readonly eventTimeClock: boolean;
}

const REPLAY_RETRY_MS = 10_000;

/** Replays each id in turn (each in its own transaction). */
export async function replayQuarantined(ctx: ReplayContext, ids: readonly number[]): Promise<ReplayOutcome[]> {
  const out: ReplayOutcome[] = [];
  for (const id of ids) out.push(await replayOne(ctx, id));
  return out;
}

async function replayOne(ctx: ReplayContext, id: number): Promise<ReplayOutcome> {
  const entry = await getQuarantined(ctx.pool, id);
  if (!entry) return { id, outcome: 'not_found' };
  let prepared: PreparedEvent;
  try {
    if (entry.bodyTruncated) throw new PoisonMessageError(`only the first ${entry.body.length} of ${entry.bodySize} bytes were kept when it was quarantined; it cannot be replayed`);
    // The AMQP properties kept with the body ({contentEncoding, headers}), as ingest passes them.
    const event = distillForStorage(ctx.distiller, decodeNotification(entry.body, entry.properties ?? undefined));
    prepared = prepareEvent(ctx.triggers, event, ctx.eventTimeClock ? event.timestamp : DateTime.now());
  } catch (err) {
    return stillPoison(ctx, id, err instanceof PoisonMessageError ? err.message : `distiller error: ${toError(err).message}`);
  }
  const typeIds = await ctx.eventTypes.resolve([prepared.event.eventType]);
  // A duplicate-key error means another process stored the same message_id meanwhile: retried,
  // the transaction then finds it (as ingest does). Bounded, since a client waits.
  let result;
  try {
    result = await retryTransient(
      `replay of quarantine ${id}`,
      () =>
        withTransaction(ctx.pool, async (conn) => {
          if (!(await getQuarantined(conn, id, true))) return null;
          const stored = await storeEvents(conn, [prepared], typeIds, ctx.indexedTraits);
          await deleteQuarantined(conn, id);
          return stored;
        }),
      ctx.log,
      AbortSignal.timeout(REPLAY_RETRY_MS),
      1000,
    );
  } catch (err) {
    if (classifyDbError(err) !== 'content') throw err;
    return stillPoison(ctx, id, rejectedContentReason(describeDbError(err), prepared.event, ctx.indexedTraits));
  }
  if (result === null) return { id, outcome: 'not_found' };
  recordCounters(result.counters);
  const ids = { message_id: prepared.event.messageId, event_type: prepared.event.eventType };
  return { id, outcome: result.stored.length > 0 ? 'stored' : 'duplicate', ...ids };
}

/** The message still fails: its row stays, with the reason updated. */
async function stillPoison(ctx: ReplayContext, id: number, reason: string): Promise<ReplayOutcome> {
  const found = await withTransaction(ctx.pool, async (conn) => {
    if (!(await getQuarantined(conn, id, true))) return false;
    await updateQuarantineReason(conn, id, `replayed at ${DateTime.now().toIsoformat()}: ${reason}`);
    return true;
  });
  return found ? { id, outcome: 'poison', reason } : { id, outcome: 'not_found' };
}

/**
 * The distiller's event, checked as ingest checks it before storing. Throws
 * PoisonMessageError; a notification no definition matches is poison here too, since it
 * would be dropped.
 */
function distillForStorage(distiller: Distiller, notification: Record<string, unknown>): Event {
  const event = distiller.distill(notification, DateTime.now());
  if (event === null) throw new PoisonMessageError(`no event definition matches event_type ${JSON.stringify(notification['event_type'])}; it would be dropped`);
  assertStorable(event);
  return event;
}
