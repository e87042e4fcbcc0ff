/**
 * The ingest transaction: a batch of deliveries becomes, in ONE MySQL transaction, the new
 * events (idempotent on message_id), their stream assignments, and the quarantine rows of the
 * poison among them. The caller acks the batch only after this commits (invariant 1), and
 * batches reach the stream step in delivery order (invariant 10, batch-order.ts).
 *
 * Who is to blame when it fails (invariant 11; the classes are db/errors.ts):
 * - transient (connection lost, deadlock, lock wait, server restarting) and conflict (another
 *   process stored the same row first): the batch is retried as it is, with capped backoff,
 *   for as long as it takes. Nothing else is consumed meanwhile: nothing is acked and prefetch
 *   bounds what the broker sends.
 * - content (a value the database rejects): the batch is split and its messages committed one
 *   by one, in order; the one that fails alone is quarantined with the database's reason.
 * - infrastructure (grants, disk full, schema, timeouts, unknown): first a canary write
 *   (store/canary.ts). If it fails too, the database refuses writes: the batch waits and is
 *   retried, logged loudly, and no message is blamed. If the canary succeeds, the batch is split;
 *   a message that fails alone `maxAttempts` times while the canary keeps succeeding is
 *   quarantined with the error.
 * A quarantine row that cannot be written is retried like everything else (never acked
 * unwritten); one that fails alone maxAttempts times is retried with its body cut to 64 KiB.
 */
import { createHash } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { decodeNotification, type BodyProperties, type Notification } from '../shared/amqp/oslo.js';
import { backoffMs, sleep } from '../shared/backoff.js';
import { classifyDbError, describeDbError, type DbErrorClass } from '../shared/db/errors.js';
import { withTransaction } from '../shared/db/sql.js';
import { PoisonMessageError, toError } from '../shared/errors.js';
import type { Event } from '../shared/event.js';
import { fileStoredEvents, insertPreparedEvents, prepareEvent, recordCounters, type PreparedEvent } from '../shared/store/batch.js';
import { probeWrites } from '../shared/store/canary.js';
import { assertStorable, EventTypeIds, rejectedContentReason } from '../shared/store/events.js';
import { newestEvent, recordCellBatch } from '../shared/store/ingest-cells.js';
import { insertQuarantine, type QuarantineEntry } from '../shared/store/quarantine.js';
import type { DateTime } from '../shared/time.js';
import type { IngestClock } from '../shared/time-sync.js';
import type { TriggerDefinition } from '../shared/triggers/index.js';
import { BatchAbandoned, PredecessorRestarted, type BatchLink } from './batch-order.js';
import { addCounts, emptyCounts, type IngestCounts } from './stats.js';

/** What ingest needs of the distiller. */
export interface NotificationDistiller {
  /** null: no definition matched. Throws PoisonMessageError for undistillable notifications. */
  distill(notification: Notification, now: DateTime): Event | null;
}

export interface RawMessage {
  readonly body: Buffer;
  readonly queue: string;
  /**
   * The delivery's AMQP properties (amqplib's, with all their fields): content encoding and
   * headers are what the body may need to be read; a quarantine row keeps every one that is set.
   */
  readonly properties?: BodyProperties | undefined;
}

export type Prepared = { readonly raw: RawMessage } & (
  | { readonly kind: 'event'; readonly prepared: PreparedEvent }
  | { readonly kind: 'unmatched'; readonly eventType: string }
  | { readonly kind: 'poison'; readonly reason: string; readonly messageId?: string; readonly eventType?: string; readonly bodyLimit?: number }
);

type Poison = Extract<Prepared, { kind: 'poison' }>;

export interface IngestOptions {
  readonly pool: Pool;
  readonly distiller: NotificationDistiller;
  readonly cell: string;
  readonly maxBodyBytes: number;
  /** Failures of one message alone (database otherwise healthy) before it is quarantined. */
  readonly maxAttempts: number;
  readonly indexedTraits: ReadonlySet<string>;
  readonly log: Logger;
  /** Trigger definitions, in file order (none: events are stored without streams). */
  readonly triggers: readonly TriggerDefinition[];
  readonly clock: IngestClock;
}

/** What ingest is doing about the database, for logs, stats and health. */
export interface IngestHealth {
  /** Set while the database refuses writes (the canary fails): the cause. */
  blockedBy: string | null;
  retries: number;
  lockRetries: number;
}

const CUT_BODY_BYTES = 64 * 1024;
const ALERT_EVERY_MS = 30_000;
/** Messages remembered for their failure counts. */
const MAX_TRACKED_FAILURES = 10_000;

export class Ingestor {
  readonly health: IngestHealth = { blockedBy: null, retries: 0, lockRetries: 0 };
  private readonly eventTypes: EventTypeIds;
  private readonly failures = new Map<string, number>();
  private lastAlert = 0;
  private distiller: NotificationDistiller;
  private triggerList: readonly TriggerDefinition[];

  constructor(private readonly options: IngestOptions) {
    this.eventTypes = new EventTypeIds(options.pool);
    this.distiller = options.distiller;
    this.triggerList = options.triggers;
  }

  /** The trigger definitions in force. */
  get triggers(): readonly TriggerDefinition[] {
    return this.triggerList;
  }

  /**
   * New definitions and triggers (a SIGHUP reload), for every delivery prepared from now on;
   * what was already prepared keeps what it was matched with. Streams whose fire criteria
   * changed get their counts rebuilt on their next append (store/streams.ts).
   */
  reconfigure(distiller: NotificationDistiller, triggers: readonly TriggerDefinition[]): void {
    this.distiller = distiller;
    this.triggerList = triggers;
  }

  /** CPU only, in delivery order: decode, distill, match triggers. Never throws. */
  prepare(raw: RawMessage): Prepared {
    if (raw.body.length > this.options.maxBodyBytes) {
      return { kind: 'poison', reason: `body of ${raw.body.length} bytes exceeds max_body_bytes ${this.options.maxBodyBytes}`, raw };
    }
    let notification: Notification | undefined;
    try {
      notification = decodeNotification(raw.body, raw.properties);
      const event = this.distiller.distill(notification, this.options.clock.current());
      if (event === null) return { kind: 'unmatched', eventType: String(notification['event_type']), raw };
      assertStorable(event);
      return { kind: 'event', prepared: prepareEvent(this.triggerList, event, this.options.clock.forEvent(event)), raw };
    } catch (err) {
      const reason = err instanceof PoisonMessageError ? err.message : `distiller error: ${toError(err).message}`;
      return { kind: 'poison', reason, ...identify(notification), raw };
    }
  }

  /**
   * Commits a batch in its turn (link), retrying and isolating as the header says. Throws
   * BatchAbandoned when an earlier batch was abandoned or `signal` (a forced stop) aborts:
   * then nothing of this batch has committed and nothing may be acked.
   */
  async commit(batch: readonly Prepared[], link: BatchLink, signal: AbortSignal): Promise<IngestCounts> {
    let items = batch;
    let conflicts = 0;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new BatchAbandoned('forced stop while the batch was retrying');
      const turn = link.beginAttempt();
      let cls: DbErrorClass;
      try {
        const counts = await this.commitOnce(items, link, turn);
        this.health.blockedBy = null;
        return counts;
      } catch (err) {
        if (err instanceof BatchAbandoned) throw err;
        link.restart(); // later batches let go of their locks before we write again
        if (err instanceof PredecessorRestarted) {
          await link.waitSettled();
          continue;
        }
        cls = classifyDbError(err);
        this.health.retries++;
        if (cls === 'transient' || (cls === 'conflict' && ++conflicts < this.options.maxAttempts)) {
          if (cls === 'conflict' || /LOCK/.test(String((err as { code?: unknown }).code))) this.health.lockRetries++;
          const waitMs = cls === 'conflict' ? 0 : backoffMs(attempt, 100, 10_000);
          this.options.log.warn({ err: toError(err), attempt, waitMs, batchSize: items.length, class: cls }, `database: ${describeDbError(err)}; retrying the batch`);
          await sleep(waitMs, signal);
          continue;
        }
        if (cls !== 'content') {
          const canaryError = await probeWrites(this.options.pool);
          if (canaryError !== null) {
            await this.waitForDatabase(err, canaryError, attempt, items.length, signal);
            continue;
          }
        }
        if (items.length > 1) {
          this.options.log.warn({ err: toError(err), batchSize: items.length, class: cls }, `database rejected the batch (${describeDbError(err)}); committing its messages one by one`);
          return this.commitEach(items, link, signal);
        }
        items = [await this.blame(items[0]!, err, cls, signal)];
      }
    }
  }

  private async commitEach(batch: readonly Prepared[], link: BatchLink, signal: AbortSignal): Promise<IngestCounts> {
    const total = emptyCounts();
    for (const item of batch) addCounts(total, await this.commit([item], link, signal));
    return total;
  }

  /**
   * A single message failed with a non-transient error while the database accepts other writes.
   * Returns what to try next: the same message again, or its quarantine row.
   */
  private async blame(item: Prepared, err: unknown, cls: DbErrorClass, signal: AbortSignal): Promise<Prepared> {
    const key = failureKey(item);
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.delete(key);
    const log = this.options.log;
    const error = describeDbError(err);
    if (item.kind === 'poison') {
      if (failures < this.options.maxAttempts || (item.bodyLimit ?? Infinity) <= CUT_BODY_BYTES) {
        this.remember(key, failures);
        log.error({ err: toError(err), failures, reason: item.reason }, 'could not write a quarantine row; retrying (the message stays unacked)');
        await sleep(backoffMs(failures, 200, 10_000), signal);
        return item;
      }
      log.error({ err: toError(err), failures }, `quarantine row failed ${failures} times alone; retrying with the body cut to ${CUT_BODY_BYTES} bytes`);
      return { ...item, reason: `${item.reason} (body cut to ${CUT_BODY_BYTES} bytes: the full row failed with ${error})`, bodyLimit: CUT_BODY_BYTES };
    }
    const ids = item.kind === 'event' ? { messageId: item.prepared.event.messageId, eventType: item.prepared.event.eventType } : {};
    if (cls === 'content') {
      const event = item.kind === 'event' ? item.prepared.event : undefined;
      return { kind: 'poison', reason: rejectedContentReason(error, event, this.options.indexedTraits), ...ids, raw: item.raw };
    }
    if (failures >= this.options.maxAttempts) {
      log.error({ err: toError(err), failures, ...ids }, 'message failed alone too many times while the database accepted other writes; quarantining it');
      return { kind: 'poison', reason: `failed ${failures} times alone while the database accepted other writes: ${error}`, ...ids, raw: item.raw };
    }
    this.remember(key, failures);
    log.warn({ err: toError(err), failures, maxAttempts: this.options.maxAttempts, ...ids }, `message failed alone (${error}); retrying it`);
    await sleep(backoffMs(failures, 200, 5_000), signal);
    return item;
  }

  /** The database refuses writes: say so (loudly, not on every retry) and wait. */
  private async waitForDatabase(err: unknown, canaryError: unknown, attempt: number, batchSize: number, signal: AbortSignal): Promise<void> {
    const cause = describeDbError(canaryError);
    const waitMs = backoffMs(attempt, 500, 30_000);
    if (this.health.blockedBy === null || Date.now() - this.lastAlert >= ALERT_EVERY_MS) {
      this.lastAlert = Date.now();
      this.options.log.error(
        { err: toError(err), canaryErr: toError(canaryError), attempt, waitMs, batchSize },
        `ingest paused: the database refuses writes (${cause}); nothing is acked, messages wait in the broker; retrying`,
      );
    }
    this.health.blockedBy = cause;
    await sleep(waitMs, signal);
  }

  private async commitOnce(batch: readonly Prepared[], link: BatchLink, turn: number): Promise<IngestCounts> {
    const counts = emptyCounts();
    counts.received = batch.length;
    const events: PreparedEvent[] = [];
    const poison: QuarantineEntry[] = [];
    for (const item of batch) {
      if (item.kind === 'event') events.push(item.prepared);
      else if (item.kind === 'poison') poison.push(this.quarantineEntry(item));
      else counts.unmatched++;
    }
    const typeIds = events.length > 0 ? await this.eventTypes.resolve(events.map((e) => e.event.eventType)) : new Map<string, number>();
    const { inserted, counters } = await withTransaction(this.options.pool, async (conn) => {
      const inserted = await insertPreparedEvents(conn, events, typeIds, this.options.indexedTraits);
      await insertQuarantine(conn, poison);
      await link.waitTurn(turn);
      const counters = await fileStoredEvents(conn, inserted);
      // In turn, like the stream work: the cell's row is then locked in delivery order too.
      await recordCellBatch(conn, this.options.cell, { stored: inserted.stored.length, duplicates: inserted.duplicates.length, quarantined: poison.length, lastEventAt: newestEvent(inserted.stored.map((s) => s.event)) });
      return { inserted, counters };
    });
    recordCounters(counters);
    if (this.failures.size > 0) for (const item of batch) this.failures.delete(failureKey(item));
    this.options.clock.committed(events.map((e) => e.now));
    counts.stored = inserted.stored.length;
    counts.duplicates = inserted.duplicates.length;
    counts.quarantined = poison.length;
    return counts;
  }

  private quarantineEntry(p: Poison): QuarantineEntry {
    return {
      cell: this.options.cell,
      queue: p.raw.queue,
      reason: p.reason,
      body: p.bodyLimit !== undefined && p.raw.body.length > p.bodyLimit ? p.raw.body.subarray(0, p.bodyLimit) : p.raw.body,
      messageId: p.messageId,
      eventType: p.eventType,
      properties: setProperties(p.raw.properties),
    };
  }

  private remember(key: string, failures: number): void {
    if (this.failures.size >= MAX_TRACKED_FAILURES) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, failures);
  }
}

/**
 * The AMQP properties a delivery has (content encoding and headers, which replay needs to read
 * the body; message id, content type, timestamp, app id… for the operator tracing it); unset
 * ones and an empty headers table left out; undefined when none is set.
 */
function setProperties(props: BodyProperties | undefined): Record<string, unknown> | undefined {
  if (props === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === 'headers' && typeof value === 'object' && Object.keys(value as object).length === 0) continue;
    out[name] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function identify(n: Notification | undefined): { messageId?: string; eventType?: string } {
  const out: { messageId?: string; eventType?: string } = {};
  if (typeof n?.['message_id'] === 'string') out.messageId = n['message_id'];
  if (typeof n?.['event_type'] === 'string') out.eventType = n['event_type'];
  return out;
}

/** What a message's failures are counted under: its message_id, else its body's hash. */
function failureKey(item: Prepared): string {
  if (item.kind === 'event') return `id:${item.prepared.event.messageId}`;
  return `body:${createHash('sha1').update(item.raw.body).digest('hex')}`;
}
