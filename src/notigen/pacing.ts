/**
 * Pacing for notigen's output: a cap on messages per second (`--rate`) and the real-time mode,
 * where each notification goes out when the wall clock reaches its timestamp.
 */
import { sleep } from '../shared/backoff.js';
import { DateTime } from '../shared/time.js';

/** Falling further behind than this (a slow broker) does not earn a burst to catch up. */
const MAX_LAG_MS = 1000;

/**
 * Lets the n-th caller of wait() through no earlier than n / perSecond seconds after the
 * first, so that no window from the start holds more than the cap.
 */
export class RateLimiter {
  private startedAt: number | null = null;
  private passed = 0;

  /** perSecond: > 0 (RangeError otherwise). */
  constructor(private readonly perSecond: number) {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new RangeError(`rate must be a positive number, got ${perSecond}`);
  }

  /** Resolves when the next message may go; early (without throwing) if the signal aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    if (this.startedAt === null) this.startedAt = now;
    let due = this.startedAt + (this.passed * 1000) / this.perSecond;
    if (now - due > MAX_LAG_MS) {
      this.startedAt = now - (this.passed * 1000) / this.perSecond;
      due = now;
    }
    this.passed++;
    if (due > now) await sleep(due - now, signal);
  }
}

/**
 * Real-time mode: yields each item once the wall clock (UTC) has reached its `time`, sleeping
 * in between; stops early when the signal aborts.
 */
export async function* inRealTime<T extends { readonly time: DateTime | null }>(source: Iterable<T> | AsyncIterable<T>, signal?: AbortSignal): AsyncGenerator<T> {
  for await (const item of source) {
    if (signal?.aborted) return;
    // timers may fire a little early: sleep again until the time has really come
    for (let waitMs = waitFor(item.time); waitMs > 0; waitMs = waitFor(item.time)) {
      await sleep(Math.ceil(waitMs), signal);
      if (signal?.aborted) return;
    }
    yield item;
  }
}

function waitFor(time: DateTime | null): number {
  return time === null ? 0 : time.diffMicros(DateTime.now()) / 1000;
}
