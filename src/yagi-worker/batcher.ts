/**
 * The yagi-worker's ingest lane: every delivery of every queue, in delivery order, is prepared
 * (decoded, distilled, matched) as it arrives, cut into batches of up to `batchSize` (or what
 * arrived within `batchTimeoutMs`), committed one transaction per batch, and acked (one
 * multiple-ack per queue) only after that commit (invariant 1).
 *
 * Up to `maxInFlight` batches are in the database at once, on separate connections, but only
 * their first step overlaps: filing into streams and the commit go batch after batch in
 * delivery order (invariant 10, batch-order.ts), so the same input always gives the same
 * streams. A batch is acked right after it commits, which is after every earlier batch
 * committed, so a multiple-ack never covers an uncommitted message. A batch abandoned by a
 * forced stop abandons every later one, and the lane takes nothing new after it.
 *
 * Under backlog (the lane is full and deliveries wait), the next batch takes up to
 * `maxBatchSize` of them at once: fewer, larger transactions when the database is the limit.
 *
 * `afterCommit` (the raw archive, archive.ts) runs after a batch committed and before it is
 * acked, batch after batch in commit order. When it throws (disk full), the batch is not acked:
 * it is retried with capped backoff, logged as an error each time, and every later batch waits
 * for it (nothing later may be acked before it: acks are cumulative). A forced stop abandons it.
 */
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../shared/backoff.js';
import { toError } from '../shared/errors.js';
import type { IngestClock } from '../shared/time-sync.js';
import { BatchLink } from './batch-order.js';
import type { Delivery } from './consumer.js';
import type { Ingestor, Prepared } from './ingest.js';
import type { IngestCounts, IngestStats } from './stats.js';

interface Item {
  readonly delivery: Delivery;
  readonly prepared: Prepared;
}

export interface LaneOptions {
  readonly ingestor: Ingestor;
  readonly stats: IngestStats;
  readonly clock: IngestClock;
  readonly log: Logger;
  /** Messages per transaction normally (yagi.conf max_messages). */
  readonly batchSize: number;
  /** Messages per transaction under backlog. */
  readonly maxBatchSize: number;
  readonly batchTimeoutMs: number;
  readonly maxInFlight: number;
  /** Acks one delivery and everything before it on its channel (`count` messages). */
  readonly ack: (delivery: Delivery, count: number) => unknown;
  /** Aborted by a second shutdown signal: retries give up and batches are abandoned. */
  readonly forceSignal: AbortSignal;
  /** Told of every committed batch (metrics). */
  readonly onBatch?: (counts: IngestCounts, seconds: number) => void;
  /** After the commit, before the ack, in batch order; a throw is retried (see the header). */
  readonly afterCommit?: ((batch: readonly Prepared[]) => void | Promise<void>) | undefined;
}

export class IngestLane {
  private current: Item[] = [];
  private inFlight = 0;
  private last: BatchLink | null = null;
  private abandoned = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  /** Set while afterCommit (the raw archive) fails: its error, for /health. */
  archiveBlockedBy: string | null = null;
  /** The last batch's afterCommit-and-ack step: false if it gave up (forced stop). */
  private acks: Promise<boolean> = Promise.resolve(true);

  constructor(private readonly options: LaneOptions) {}

  /** Deliveries waiting for a batch, and batches in the database (for stats and health). */
  get depth(): { waiting: number; inFlight: number } {
    return { waiting: this.current.length, inFlight: this.inFlight };
  }

  push(delivery: Delivery): void {
    // After an abandoned batch nothing may be acked on these channels: leave it to redelivery.
    if (this.abandoned) return;
    const { message, queue } = delivery;
    const prepared = this.options.ingestor.prepare({ body: message.content, queue, properties: message.properties });
    this.current.push({ delivery, prepared });
    if (this.current.length >= this.options.batchSize) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.batchTimeoutMs);
  }

  /** Commits what is buffered and resolves when nothing is left in flight. */
  async drain(): Promise<void> {
    this.flush();
    if (this.isIdle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.abandoned) this.current = []; // left to redelivery
    while (this.current.length > 0 && this.inFlight < this.options.maxInFlight && !this.abandoned) {
      const size = this.current.length > this.options.batchSize && this.inFlight > 0 ? this.options.maxBatchSize : this.options.batchSize;
      const items = this.current.splice(0, size);
      const link = new BatchLink(this.last);
      this.last = link;
      this.inFlight++;
      void this.run(items, link);
    }
  }

  private async run(items: readonly Item[], link: BatchLink): Promise<void> {
    const started = performance.now();
    try {
      const counts = await this.options.ingestor.commit(
        items.map((i) => i.prepared),
        link,
        this.options.forceSignal,
      );
      if (this.options.afterCommit === undefined) {
        this.ack(items);
        link.settle('committed');
      } else {
        link.settle('committed'); // the next batch may commit; its ack waits for ours
        const step = this.acks.then(async (ok) => ok && (await this.afterCommitThenAck(items)));
        this.acks = step;
        if (!(await step)) {
          this.abandoned = true;
          this.options.log.error({ batchSize: items.length }, 'batch committed but abandoned unacked (forced stop); the broker will redeliver it and the copies are duplicates');
        }
      }
      this.options.stats.add(counts);
      this.options.onBatch?.(counts, (performance.now() - started) / 1000);
    } catch (err) {
      // Only a forced stop (or an earlier batch's) gets here: nothing of it committed.
      this.abandoned = true;
      link.settle('abandoned');
      this.options.log.error({ err: toError(err), batchSize: items.length }, 'batch abandoned unacked; the broker will redeliver it');
    }
    this.inFlight--;
    this.flush();
    if (this.isIdle()) this.becameIdle();
  }

  /** afterCommit until it succeeds, then the ack; false when a forced stop ends the retries. */
  private async afterCommitThenAck(items: readonly Item[]): Promise<boolean> {
    const batch = items.map((i) => i.prepared);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.afterCommit!(batch);
        this.archiveBlockedBy = null;
        break;
      } catch (err) {
        this.archiveBlockedBy = toError(err).message;
        if (this.options.forceSignal.aborted) return false;
        const waitMs = backoffMs(attempt, 500, 30_000);
        this.options.log.error({ err: toError(err), batchSize: items.length, attempt, waitMs }, 'raw archive write failed: the batch is committed but not acked until it is archived; retrying');
        await sleep(waitMs, this.options.forceSignal);
        if (this.options.forceSignal.aborted) return false;
      }
    }
    this.ack(items);
    return true;
  }

  /** One multiple-ack per queue: the batch's newest delivery of each covers the rest. */
  private ack(items: readonly Item[]): void {
    const newest = new Map<string, { delivery: Delivery; count: number }>();
    for (const { delivery } of items) newest.set(delivery.queue, { delivery, count: (newest.get(delivery.queue)?.count ?? 0) + 1 });
    // A channel that has died since cannot ack; its messages come again as duplicates.
    for (const { delivery, count } of newest.values()) this.options.ack(delivery, count);
  }

  private isIdle(): boolean {
    return this.current.length === 0 && this.inFlight === 0;
  }

  private becameIdle(): void {
    this.options.clock.idle();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
