/**
 * Invariant 12: a stream runs in one pipeline at a time. While a worker holds claimed streams
 * it renews their leases every lease/3 seconds (a heartbeat), so no chunk size and no slow
 * handler lets a lease run out under a live worker. If renewals fail (the database is away)
 * for so long that a lease may have run out, the worker starts no further stream of the
 * chunk (another worker may have taken it after the reaper freed it); streams the reaper took
 * back are dropped from the set as soon as a renewal shows it.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { toError } from '../shared/errors.js';
import { renewLeases } from './sql/leases.js';

export class LeaseKeeper {
  private readonly held = new Set<number>();
  private lastRenewed = 0;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  /** Renewals done (tests and stats). */
  renewals = 0;

  constructor(
    private readonly pool: Pool,
    private readonly owner: string,
    private readonly leaseSeconds: number,
    private readonly log: Logger,
  ) {}

  /** Streams just claimed (their lease was taken now). */
  hold(ids: Iterable<number>): void {
    for (const id of ids) this.held.add(id);
    this.lastRenewed = performance.now();
    this.timer ??= setInterval(() => void this.renew(), (this.leaseSeconds * 1000) / 3);
  }

  /** A stream's outcome was recorded, or it was given back. */
  release(ids: Iterable<number>): void {
    for (const id of ids) this.held.delete(id);
    if (this.held.size === 0) this.stopTimer();
  }

  /** Whether `id` may still be started: held, and its lease certainly not run out. */
  mayStart(id: number): boolean {
    const ageMs = performance.now() - this.lastRenewed;
    return this.held.has(id) && ageMs < (this.leaseSeconds * 1000 * 2) / 3;
  }

  async stop(): Promise<void> {
    this.stopTimer();
    await this.renewing;
  }

  private renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return this.renewing ?? Promise.resolve();
    const ids = [...this.held];
    this.renewing = renewLeases(this.pool, ids, this.owner, this.leaseSeconds)
      .then((still) => {
        this.lastRenewed = performance.now();
        this.renewals++;
        const lost = ids.filter((id) => !still.has(id));
        if (lost.length > 0) {
          this.release(lost);
          this.log.warn({ streams: lost }, 'leases lost (reaped after a stall); these streams are left to the worker that takes them');
        }
      })
      .catch((err: unknown) => this.log.warn({ err: toError(err), streams: ids.length }, 'could not renew leases; retrying at the next heartbeat'))
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
