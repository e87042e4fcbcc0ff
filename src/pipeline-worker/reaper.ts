/**
 * Invariant 5: a claimed stream whose worker died is released by lease expiry, not left stuck.
 * Every pipeline worker runs the reaper (sql/leases.ts reapExpiredLeases) on a randomised
 * interval around lease/4, its first run spread over one interval, so N workers do not all
 * reap at the same moment.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { toError } from '../shared/errors.js';
import { reapExpiredLeases } from './sql/leases.js';

export class LeaseReaper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Streams returned for retry since the last take(). */
  private reaped = 0;

  constructor(
    private readonly pool: Pool,
    private readonly leaseSeconds: number,
    private readonly maxAttempts: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.schedule(Math.random());
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Streams reaped since the last call. */
  take(): number {
    const n = this.reaped;
    this.reaped = 0;
    return n;
  }

  private schedule(fraction: number): void {
    const intervalMs = Math.max(1000, (this.leaseSeconds * 1000) / 4);
    this.timer = setTimeout(() => {
      this.running = this.reap().finally(() => {
        this.running = null;
        if (this.timer) this.schedule(0.5 + Math.random());
      });
    }, intervalMs * fraction);
    this.timer.unref();
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
