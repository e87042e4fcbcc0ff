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
import { PeriodicTask } from './periodic.js';
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
  private readonly periodic: PeriodicTask;
  /** Events deleted by this worker since start (stats). */
  deleted = 0;
  /** The last run's report (tests, stats). */
  last: TrimReport | null = null;

  constructor(private readonly options: TrimmerOptions) {
    this.periodic = new PeriodicTask(options.intervalSeconds * 1000, (signal) => this.run(signal));
  }

  start(): void {
    this.periodic.start();
  }

  /** Ends a run in progress between two batches and waits for it. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One run; resolves with a short delay when the run was cut short (a backlog), else nothing. */
  private async run(signal: AbortSignal): Promise<number | undefined> {
    const o = this.options;
    let again = false;
    try {
      const report = await runTrim(o.pool, { policy: o.policy, batchSize: o.batchSize, maxSeconds: o.maxSeconds, pauseMs: o.pauseMs, signal, log: o.log });
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
    return again ? Math.min(o.intervalSeconds * 1000, Math.max(1000, o.pauseMs * 10)) : undefined;
  }
}
