/**
 * Ingest counters, logged as one line every statistics period and reset (spec §4.9 asks for
 * the ingest side to honour statistics_period; upstream used yagi's update_timer).
 */
import type { Logger } from 'pino';

export interface IngestCounts {
  received: number;
  stored: number;
  duplicates: number;
  quarantined: number;
  unmatched: number;
}

export function emptyCounts(): IngestCounts {
  return { received: 0, stored: 0, duplicates: 0, quarantined: 0, unmatched: 0 };
}

export function addCounts(into: IngestCounts, from: IngestCounts): void {
  into.received += from.received;
  into.stored += from.stored;
  into.duplicates += from.duplicates;
  into.quarantined += from.quarantined;
  into.unmatched += from.unmatched;
}

export class IngestStats {
  readonly window: IngestCounts = emptyCounts();
  readonly total: IngestCounts = emptyCounts();
  private windowStart = Date.now();
  private timer: NodeJS.Timeout | null = null;
  /** Extra lines to log with each period (per-trigger debug dumps). */
  private readonly extras: (() => void)[] = [];

  constructor(private readonly log: Logger, private readonly periodSeconds: number) {}

  add(counts: IngestCounts): void {
    addCounts(this.window, counts);
    addCounts(this.total, counts);
  }

  onPeriod(fn: () => void): void {
    this.extras.push(fn);
  }

  start(): void {
    this.timer = setInterval(() => this.flush(), this.periodSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  flush(): void {
    const seconds = Math.max((Date.now() - this.windowStart) / 1000, 0.001);
    const w = this.window;
    this.log.info(
      { ...w, ratePerSecond: Math.round((w.received / seconds) * 10) / 10, periodSeconds: Math.round(seconds * 10) / 10, totalStored: this.total.stored },
      `received ${w.received}, stored ${w.stored}, duplicates ${w.duplicates}, quarantined ${w.quarantined}, unmatched ${w.unmatched}, ${(w.received / seconds).toFixed(1)}/s`,
    );
    for (const extra of this.extras) extra();
    Object.assign(this.window, emptyCounts());
    this.windowStart = Date.now();
  }
}
