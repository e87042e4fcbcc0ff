/**
 * The ingest transaction: a batch of deliveries becomes, in ONE MySQL transaction, the new
 * events (idempotent on message_id), their stream assignments, and the quarantine rows of the
 * poison among them. The caller acks the batch only after this commits (invariant 1).
 *
 * Failures:
 * - transient database trouble (connection lost, deadlock, lock wait, server down): the whole
 *   batch is retried with capped backoff, for as long as it takes; nothing else is consumed
 *   meanwhile because nothing is acked and prefetch bounds what the broker sends;
 * - any other error belongs to some message's data (the database rejects a value, a stream's
 *   expiration cannot be computed): the batch is split and each message committed alone, so
 *   the culprit is quarantined with the reason and the good ones around it are stored.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Logger } from 'pino';
import { decodeNotification, type Notification } from '../shared/amqp/oslo.js';
import { backoffMs, sleep } from '../shared/backoff.js';
import { isDuplicateKey, isTransientDbError } from '../shared/db/errors.js';
import { EventTypeIds } from '../shared/store/events.js';
import { withTransaction } from '../shared/db/sql.js';
import { insertQuarantine } from '../shared/store/quarantine.js';
import { isValidForStorage } from '../shared/distiller/index.js';
import { PoisonMessageError, toError } from '../shared/errors.js';
import type { Event } from '../shared/event.js';
import { prepareEvent, recordCounters, storeEvents, type PreparedEvent } from '../shared/store/batch.js';
import { DateTime } from '../shared/time.js';
import type { IngestClock } from '../shared/time-sync.js';
import type { TriggerDefinition } from '../shared/triggers/index.js';
import { addCounts, emptyCounts, type IngestCounts } from './stats.js';

/** What ingest needs of the distiller. */
export interface NotificationDistiller {
  /** null: no definition matched. Throws PoisonMessageError for undistillable notifications. */
  distill(notification: Notification, now: DateTime): Event | null;
}

export interface RawMessage {
  readonly body: Buffer;
  readonly queue: string;
}

export type Prepared = { readonly raw: RawMessage } & (
  | { readonly kind: 'event'; readonly prepared: PreparedEvent }
  | { readonly kind: 'unmatched'; readonly eventType: string }
  | { readonly kind: 'poison'; readonly reason: string; readonly messageId?: string; readonly eventType?: string }
);

export interface IngestOptions {
  readonly pool: Pool;
  readonly distiller: NotificationDistiller;
  readonly cell: string;
  readonly maxBodyBytes: number;
  readonly indexedTraits: ReadonlySet<string>;
  readonly log: Logger;
  /** Trigger definitions, in file order (none: events are stored without streams). */
  readonly triggers: readonly TriggerDefinition[];
  readonly clock: IngestClock;
}

const MAX_ID_CHARS = 255;

export class Ingestor {
  private readonly eventTypes: EventTypeIds;

  constructor(private readonly options: IngestOptions) {
    this.eventTypes = new EventTypeIds(options.pool);
  }

  /** CPU only: decode and distill one message. Never throws. */
  prepare(raw: RawMessage): Prepared {
    if (raw.body.length > this.options.maxBodyBytes) {
      return { kind: 'poison', reason: `body of ${raw.body.length} bytes exceeds max_body_bytes ${this.options.maxBodyBytes}`, raw };
    }
    let notification: Notification | undefined;
    try {
      notification = decodeNotification(raw.body);
      const event = this.options.distiller.distill(notification, this.options.clock.current());
      if (event === null) return { kind: 'unmatched', eventType: String(notification['event_type']), raw };
      if (!isValidForStorage(event)) throw new PoisonMessageError('the matching definition yields no traits (winchester stores no event without traits)');
      if (event.messageId.length > MAX_ID_CHARS) throw new PoisonMessageError(`message_id longer than ${MAX_ID_CHARS} characters`);
      if (event.eventType.length > MAX_ID_CHARS) throw new PoisonMessageError(`event_type longer than ${MAX_ID_CHARS} characters`);
      const prepared = prepareEvent(this.options.triggers, event, this.options.clock.forEvent(event));
      return { kind: 'event', prepared, raw };
    } catch (err) {
      const reason = err instanceof PoisonMessageError ? err.message : `distiller error: ${toError(err).message}`;
      return { kind: 'poison', reason, ...identify(notification), raw };
    }
  }

  /**
   * Commits a batch, retrying transient failures until `signal` aborts (then it throws and
   * nothing of the batch is acked).
   */
  async commit(batch: readonly Prepared[], signal: AbortSignal): Promise<IngestCounts> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.commitOnce(batch);
      } catch (err) {
        if (isTransientDbError(err) || isDuplicateKey(err)) {
          if (signal.aborted) throw toError(err);
          const waitMs = backoffMs(attempt, 100, 10_000);
          this.options.log.warn({ err: toError(err), attempt, waitMs, batchSize: batch.length }, 'database unavailable; retrying the batch');
          await sleep(waitMs, signal);
          continue;
        }
        return this.commitSplit(batch, err, signal);
      }
    }
  }

  private async commitSplit(batch: readonly Prepared[], err: unknown, signal: AbortSignal): Promise<IngestCounts> {
    if (batch.length > 1) {
      this.options.log.warn({ err: toError(err), batchSize: batch.length }, 'database rejected the batch; committing its messages one by one');
      const total = emptyCounts();
      for (const item of batch) addCounts(total, await this.commit([item], signal));
      return total;
    }
    const item = batch[0]!;
    if (item.kind === 'poison') {
      // Not even the quarantine row can be written: say everything we know, loudly.
      this.options.log.error({ err: toError(err), reason: item.reason, body: item.raw.body.toString('utf8', 0, 65_536) }, 'could not quarantine a message; it is acked and only this log line keeps it');
      return { ...emptyCounts(), received: 1, quarantined: 1 };
    }
    const ids = item.kind === 'event' ? { messageId: item.prepared.event.messageId, eventType: item.prepared.event.eventType } : {};
    return this.commit([{ kind: 'poison', reason: `could not be stored: ${toError(err).message}`, ...ids, raw: item.raw }], signal);
  }

  private async commitOnce(batch: readonly Prepared[]): Promise<IngestCounts> {
    const counts = emptyCounts();
    counts.received = batch.length;
    const events: PreparedEvent[] = [];
    const poison: Extract<Prepared, { kind: 'poison' }>[] = [];
    for (const item of batch) {
      if (item.kind === 'event') events.push(item.prepared);
      else if (item.kind === 'poison') poison.push(item);
      else counts.unmatched++;
    }
    const typeIds = events.length > 0 ? await this.eventTypes.resolve(events.map((e) => e.event.eventType)) : new Map<string, number>();
    const result = await withTransaction(this.options.pool, async (conn) => {
      const stored = await storeEvents(conn, events, typeIds, this.options.indexedTraits);
      for (const p of poison) await this.quarantine(conn, p);
      return stored;
    });
    recordCounters(result.counters);
    counts.stored = result.stored.length;
    counts.duplicates = result.duplicates.length;
    counts.quarantined = poison.length;
    return counts;
  }

  private async quarantine(conn: PoolConnection, p: Extract<Prepared, { kind: 'poison' }>): Promise<void> {
    await insertQuarantine(conn, [{ cell: this.options.cell, queue: p.raw.queue, reason: p.reason, body: p.raw.body, messageId: p.messageId, eventType: p.eventType }]);
  }

}

function identify(n: Notification | undefined): { messageId?: string; eventType?: string } {
  const out: { messageId?: string; eventType?: string } = {};
  if (typeof n?.['message_id'] === 'string') out.messageId = n['message_id'];
  if (typeof n?.['event_type'] === 'string') out.eventType = n['event_type'];
  return out;
}
