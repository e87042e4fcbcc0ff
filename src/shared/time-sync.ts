/**
 * The ingest clock: what "now" is when events are filed into streams (stream expiry, fire
 * timestamps). Normally the wall clock. With winchester.yaml `time_sync_endpoint` set (spec
 * §4.8, for replaying old notifications), "now" is the timestamp of the notification being
 * processed, advancing notification by notification, also inside a batch, and it is POSTed to
 * `<endpoint>/time` so that pipeline workers follow it.
 *
 * Upstream posted when `(new − last posted).seconds > 20`; `.seconds` ignores whole days, so a
 * jump of exactly one day was never posted. We post when the time moved back, or forward by
 * more than 20 s in total.
 */
import type { Logger } from 'pino';
import type { Event } from './event.js';
import { toError } from './errors.js';
import { DateTime } from './time.js';

export interface IngestClock {
  /** "now" for a notification before it is distilled (one without a timestamp gets it). */
  current(): DateTime;
  /** "now" for this event's stream work. */
  forEvent(event: Event): DateTime;
}

export const wallClock: IngestClock = {
  current: () => DateTime.now(),
  forEvent: () => DateTime.now(),
};

const POST_EVERY_MICROS = 20_000_000;
const WARN_EVERY_MS = 60_000;

export class EventTimeClock implements IngestClock {
  private now: DateTime | null = null;
  private lastPosted: DateTime | null = null;
  private lastWarning = 0;
  private readonly url: string;

  constructor(endpoint: string, private readonly log: Logger) {
    this.url = `${endpoint.replace(/\/+$/, '')}/time`;
  }

  current(): DateTime {
    return this.now ?? DateTime.now();
  }

  forEvent(event: Event): DateTime {
    this.now = event.timestamp;
    const last = this.lastPosted;
    if (last === null || this.now.isBefore(last) || this.now.diffMicros(last) > POST_EVERY_MICROS) {
      this.lastPosted = this.now;
      this.post(this.now);
    }
    return this.now;
  }

  private post(time: DateTime): void {
    fetch(this.url, { method: 'POST', body: time.toString(), headers: { 'content-type': 'text/plain' }, signal: AbortSignal.timeout(5000) })
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
      })
      .catch((err: unknown) => {
        if (Date.now() - this.lastWarning < WARN_EVERY_MS) return;
        this.lastWarning = Date.now();
        this.log.warn({ err: toError(err), url: this.url }, 'could not post the replay time to the time-sync endpoint; pipeline workers will lag');
      });
  }
}
