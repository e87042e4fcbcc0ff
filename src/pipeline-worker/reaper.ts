/**
 * Invariant 5: a claimed stream whose worker died is released by lease expiry, not left stuck.
 * Every pipeline worker runs the reaper (sql/leases.ts reapExpiredLeases) on a randomised
 * interval around lease/4, its first run spread over one interval, so N workers do not all
 * reap at the same moment.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { toError } from '../shared/errors.js';
import { PeriodicTask } from './periodic.js';
import { reapExpiredLeases } from './sql/leases.js';

export class LeaseReaper {
  private readonly periodic: PeriodicTask;
  /** Streams returned for retry since the last take(). */
  private reaped = 0;

  constructor(
    private readonly pool: Pool,
    leaseSeconds: number,
    private readonly maxAttempts: number,
    private readonly log: Logger,
  ) {
    this.periodic = new PeriodicTask(Math.max(1000, (leaseSeconds * 1000) / 4), () => this.reap());
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** Streams reaped since the last call. */
  take(): number {
    const n = this.reaped;
    this.reaped = 0;
    return n;
  }

  private async reap(): Promise<void> {
    try {
      const n = await reapExpiredLeases(this.pool, this.maxAttempts);
      if (n > 0) {
        this.reaped += n;
        this.log.warn({ streams: n }, 'leases ran out (a worker died or stalled); streams returned for retry');
      }
    } catch (err) {
      this.log.warn({ err: toError(err) }, 'lease reaper failed; trying again at the next interval');
    }
  }
}
