/**
 * The periodic trim of a pipeline worker (winchester.yaml `trim_events: true`; spec §4.5, where
 * upstream trimmed a batch on every pass). Every `intervalSeconds` (the first run spread over
 * one interval, later ones jittered 0.5×–1.5×, so N workers do not all try at once) the worker
 * runs store/retention.ts runTrim: at most `maxSeconds`, batches of `batchSize`, `pauseMs`
 * between them. The database lock makes the other workers skip the run while one trims. A run
 * cut short by its time limit is followed by the next one after a short pause, not a whole
 * interval, so a backlog drains.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { toError } from '../shared/errors.js';
import { runTrim, type RetentionPolicy, type TrimReport } from '../shared/store/retention.js';

export interface TrimmerOptions {
  readonly pool: Pool;
  readonly policy: RetentionPolicy;
  readonly intervalSeconds: number;
  readonly batchSize: number;
  readonly maxSeconds: number;
  readonly pauseMs: number;
  readonly log: Logger;
}

export class Trimmer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private stopped = false;
  /** Events deleted by this worker since start (stats). */
  deleted = 0;
  /** The last run's report (tests, stats). */
  last: TrimReport | null = null;

  constructor(private readonly options: TrimmerOptions) {}

  start(): void {
    this.schedule(this.options.intervalSeconds * 1000 * Math.random());
  }

  /** Ends a run in progress between two batches and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.run().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const o = this.options;
    let again = false;
    try {
      const report = await runTrim(o.pool, { policy: o.policy, batchSize: o.batchSize, maxSeconds: o.maxSeconds, pauseMs: o.pauseMs, signal: this.abort.signal, log: o.log });
      this.last = report;
      if (!report.locked) {
        o.log.debug('another worker is trimming; skipped');
      } else {
        const events = Object.values(report.events).reduce((a, b) => a + b, 0);
        this.deleted += events;
        again = !report.complete;
        if (events + report.streams + report.quarantine > 0 || again) {
          o.log.info({ events: report.events, streams: report.streams, quarantine: report.quarantine, seconds: report.seconds, complete: report.complete }, `trimmed ${events} events, ${report.streams} completed streams, ${report.quarantine} quarantine rows`);
        }
      }
    } catch (err) {
      o.log.warn({ err: toError(err) }, 'trim failed; trying again at the next interval');
    }
    const intervalMs = o.intervalSeconds * 1000;
    this.schedule(again ? Math.min(intervalMs, Math.max(1000, o.pauseMs * 10)) : intervalMs * (0.5 + Math.random()));
  }
}
