/**
 * Cuts a queue's deliveries into batches of up to max_messages (or whatever arrived within
 * batch_timeout_ms), commits each batch in one transaction, and acks it (one ack with
 * multiple=true) only after the commit.
 *
 * Up to `maxInFlight` batches commit at once, on separate connections, which is worth about
 * +50% on this kind of machine (PERFORMANCE.md). Acks stay in delivery order: a batch that
 * commits before an earlier one waits for it, because one multiple-ack covers every earlier tag.
 */
import type { Logger } from 'pino';
import type { ConsumerConfig } from '../shared/config/yagi-conf.js';
import { toError } from '../shared/errors.js';
import type { Delivery } from './consumer.js';
import type { Ingestor, Prepared } from './ingest.js';
import type { IngestStats } from './stats.js';

interface Item {
  readonly delivery: Delivery;
  readonly prepared: Prepared;
}

interface InFlight {
  readonly items: readonly Item[];
  done: boolean;
}

export interface BatcherOptions {
  readonly consumer: ConsumerConfig;
  readonly ingestor: Ingestor;
  readonly stats: IngestStats;
  readonly log: Logger;
  readonly maxInFlight: number;
  /** Acks one delivery and everything before it on its channel; false if the channel is gone. */
  readonly ack: (delivery: Delivery) => boolean;
  /** Aborted by a second shutdown signal: retries give up. */
  readonly forceSignal: AbortSignal;
}

export class Batcher {
  private current: Item[] = [];
  private readonly inFlight: InFlight[] = [];
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: BatcherOptions) {}

  push(delivery: Delivery): void {
    const prepared = this.options.ingestor.prepare({ body: delivery.message.content, queue: delivery.queue });
    this.current.push({ delivery, prepared });
    if (this.current.length >= this.options.consumer.maxMessages) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.consumer.batchTimeoutMs);
  }

  /** Commits what is buffered and resolves when nothing is left in flight. */
  async drain(): Promise<void> {
    this.flush();
    if (this.current.length === 0 && this.inFlight.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.current.length > 0 && this.inFlight.length < this.options.maxInFlight) {
      const items = this.current.splice(0, this.options.consumer.maxMessages);
      const entry: InFlight = { items, done: false };
      this.inFlight.push(entry);
      void this.run(entry);
    }
  }

  private async run(entry: InFlight): Promise<void> {
    try {
      const counts = await this.options.ingestor.commit(
        entry.items.map((i) => i.prepared),
        this.options.forceSignal,
      );
      this.options.stats.add(counts);
      entry.done = true;
    } catch (err) {
      // Only reached when a forced shutdown gave up retrying: nothing of it is acked.
      this.options.log.error({ err: toError(err), batchSize: entry.items.length }, 'batch abandoned unacked; the broker will redeliver it');
      this.inFlight.splice(this.inFlight.indexOf(entry), 1);
      this.settle();
      return;
    }
    this.ackInOrder();
    this.flush();
    this.settle();
  }

  private ackInOrder(): void {
    while (this.inFlight[0]?.done) {
      const entry = this.inFlight.shift()!;
      const newest = entry.items[entry.items.length - 1]!.delivery;
      // Deliveries of a channel that has since died cannot be acked (and need not be: they
      // come again and are recognised as duplicates).
      if (!this.options.ack(newest)) {
        this.options.log.debug({ queue: newest.queue }, 'batch committed on a closed channel; redelivery will be deduplicated');
      }
    }
  }

  private settle(): void {
    if (this.current.length > 0 && this.inFlight.length === 0) this.flush();
    if (this.current.length === 0 && this.inFlight.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
