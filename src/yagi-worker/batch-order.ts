/**
 * The order of a yagi-worker's batches (invariant 10). Two batches may be in the database at
 * once, but only their first step overlaps (inserting the batch's own new rows); filing into
 * streams and the commit happen batch after batch, in delivery order. Each batch has a
 * BatchLink to the one before it:
 *
 *   waitTurn()     blocks the stream step until the previous batch has committed; throws
 *                  BatchAbandoned if it was abandoned (a forced stop: nothing after it may
 *                  commit or be acked either), PredecessorRestarted if it rolled back since
 *                  this attempt began;
 *   restart()      this batch rolled back and will write again: later batches waiting for
 *                  their turn roll back too (PredecessorRestarted), so that none of them sits
 *                  on a row lock this batch needs (the two would wait on each other forever,
 *                  once in the database and once here);
 *   settle(state)  committed (and acked) or abandoned.
 */

/** The previous batch was abandoned, so this one is too: rolled back, not acked. */
export class BatchAbandoned extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BatchAbandoned';
  }
}

/** The previous batch rolled back while this one waited: roll back, wait for it, start again. */
export class PredecessorRestarted extends Error {
  constructor() {
    super('the previous batch rolled back; starting again after it');
    this.name = 'PredecessorRestarted';
  }
}

type LinkState = 'pending' | 'committed' | 'abandoned';

export class BatchLink {
  private state: LinkState = 'pending';
  private epoch = 0;
  private listeners: (() => void)[] = [];

  constructor(private prev: BatchLink | null) {}

  /** A token for the attempt that starts now (the previous batch's restart count). */
  beginAttempt(): number {
    return this.prev?.epoch ?? 0;
  }

  /** Resolves when every earlier batch has committed. */
  async waitTurn(attempt: number): Promise<void> {
    for (;;) {
      const p = this.prev;
      if (p === null || p.state === 'committed') return;
      if (p.state === 'abandoned') throw new BatchAbandoned('an earlier batch was abandoned');
      if (p.epoch !== attempt) throw new PredecessorRestarted();
      await p.changed();
    }
  }

  /** Resolves when the previous batch is settled; throws BatchAbandoned if it was abandoned. */
  async waitSettled(): Promise<void> {
    for (;;) {
      const p = this.prev;
      if (p === null || p.state === 'committed') return;
      if (p.state === 'abandoned') throw new BatchAbandoned('an earlier batch was abandoned');
      await p.changed();
    }
  }

  restart(): void {
    this.epoch++;
    this.notify();
  }

  settle(state: Exclude<LinkState, 'pending'>): void {
    this.state = state;
    this.prev = null;
    this.notify();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l();
  }
}
