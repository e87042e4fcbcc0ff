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
 */
import type { Logger } from 'pino';
import { toError } from '../shared/errors.js';
import type { IngestClock } from '../shared/time-sync.js';
import { BatchLink } from './batch-order.js';
import type { Delivery } from './consumer.js';
import type { Ingestor, Prepared } from './ingest.js';
import type { IngestStats } from './stats.js';

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
}

export class IngestLane {
  private current: Item[] = [];
  private inFlight = 0;
  private last: BatchLink | null = null;
  private abandoned = false;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

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
    try {
      const counts = await this.options.ingestor.commit(
        items.map((i) => i.prepared),
        link,
        this.options.forceSignal,
      );
      this.ack(items);
      link.settle('committed');
      this.options.stats.add(counts);
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
