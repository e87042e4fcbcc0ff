/**
 * Time sync (spec §4.8): replaying old notifications as if live. With winchester.yaml
 * `time_sync_endpoint` set, "now" for stream work is the timestamp of the notification being
 * processed; the yagi-workers POST it to `<endpoint>/time` and the pipeline workers GET it from
 * there to decide which streams are due. Both halves of the protocol live here; the server is
 * `stv3 time-sync` (src/cli/time-sync-server.ts).
 *
 * The ingest side (invariant 10): the clock moves in delivery order; what is posted is only
 * what has committed, in commit order, with at most one POST in flight (a newer time replaces
 * a pending one, a failed POST is retried), so the endpoint can never end on an older time
 * than the last notification processed. A time is posted when it moved back (as upstream did)
 * or forward by more than 20 s since the last one posted (upstream's `.seconds > 20`, which
 * ignored whole days: a jump of exactly one day was never posted); when the queue is drained
 * the last committed time is posted whatever the distance.
 */
import type { Logger } from 'pino';
import { sleep } from './backoff.js';
import { parseIso8601 } from './distiller/iso8601.js';
import { toError } from './errors.js';
import type { Event } from './event.js';
import { DateTime } from './time.js';

/** The yagi-worker's clock. */
export interface IngestClock {
  /** "now" for a notification before it is distilled (one without a timestamp gets it). */
  current(): DateTime;
  /** "now" for this event's stream work; called in delivery order. */
  forEvent(event: Event): DateTime;
  /** A batch committed; `times` are its events' clock values in delivery order. */
  committed(times: readonly DateTime[]): void;
  /** Nothing is buffered or in flight: publish the last committed time. */
  idle(): void;
  /** Waits (at most `ms`) for the last POST. */
  close(ms?: number): Promise<void>;
}

export const wallIngestClock: IngestClock = {
  current: () => DateTime.now(),
  forEvent: () => DateTime.now(),
  committed: () => undefined,
  idle: () => undefined,
  close: async () => undefined,
};

const POST_EVERY_MICROS = 20_000_000;
const WARN_EVERY_MS = 60_000;
const POST_TIMEOUT_MS = 5_000;

function timeUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/time`;
}

export class EventTimeClock implements IngestClock {
  private now: DateTime | null = null;
  /** The last time chosen for posting (posted, in flight or pending). */
  private lastChosen: DateTime | null = null;
  private lastCommitted: DateTime | null = null;
  private pending: DateTime | null = null;
  private inFlight: Promise<void> | null = null;
  private lastWarning = 0;
  private closed = false;
  private readonly url: string;
  /** POSTs sent (tests and stats). */
  posts = 0;

  constructor(
    endpoint: string,
    private readonly log: Logger,
  ) {
    this.url = timeUrl(endpoint);
  }

  current(): DateTime {
    return this.now ?? DateTime.now();
  }

  forEvent(event: Event): DateTime {
    this.now = event.timestamp;
    return event.timestamp;
  }

  committed(times: readonly DateTime[]): void {
    for (const t of times) {
      const last = this.lastChosen;
      if (last === null || t.isBefore(last) || t.diffMicros(last) > POST_EVERY_MICROS) this.choose(t);
      this.lastCommitted = t;
    }
  }

  idle(): void {
    const t = this.lastCommitted;
    if (t !== null && (this.lastChosen === null || t.compare(this.lastChosen) !== 0)) this.choose(t);
  }

  async close(ms = POST_TIMEOUT_MS): Promise<void> {
    this.idle();
    const deadline = Date.now() + ms;
    while (this.inFlight && Date.now() < deadline) await Promise.race([this.inFlight, sleep(deadline - Date.now())]);
    this.closed = true;
  }

  private choose(t: DateTime): void {
    this.lastChosen = t;
    this.pending = t;
    this.inFlight ??= this.postLoop();
  }

  /** Sends the pending time until none is left; one request at a time. */
  private async postLoop(): Promise<void> {
    let failures = 0;
    while (this.pending !== null && !this.closed) {
      const time = this.pending;
      this.pending = null;
      try {
        const res = await fetch(this.url, { method: 'POST', body: time.toString(), headers: { 'content-type': 'text/plain' }, signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.posts++;
        failures = 0;
      } catch (err) {
        this.pending ??= time; // keep it unless a newer one is waiting
        failures++;
        if (Date.now() - this.lastWarning >= WARN_EVERY_MS) {
          this.lastWarning = Date.now();
          this.log.warn({ err: toError(err), url: this.url, time: time.toString() }, 'could not post the replay time to the time-sync endpoint; retrying (pipeline workers lag meanwhile)');
        }
        await sleep(Math.min(200 * 2 ** Math.min(failures, 5), 5000));
      }
    }
    this.inFlight = null;
  }
}

/** The pipeline worker's clock: what "now" is when deciding which streams are due. */
export interface PipelineClock {
  now(signal?: AbortSignal): Promise<DateTime>;
  readonly replay: boolean;
}

export const wallPipelineClock: PipelineClock = { now: async () => DateTime.now(), replay: false };

/**
 * The replay time the yagi-workers post: `GET <endpoint>/time`, fetched at most every
 * `pollSeconds` (upstream: 20) and waiting, 1 s between tries, while the endpoint has no
 * time yet. A cached time is used while the endpoint is briefly unreachable.
 */
export class TimeSyncClock implements PipelineClock {
  readonly replay = true;
  private cached: DateTime | null = null;
  private fetchedAt = 0;
  private readonly url: string;

  constructor(
    endpoint: string,
    private readonly pollSeconds: number,
    private readonly log: Logger,
  ) {
    this.url = timeUrl(endpoint);
  }

  async now(signal?: AbortSignal): Promise<DateTime> {
    if (this.cached !== null && Date.now() - this.fetchedAt < this.pollSeconds * 1000) return this.cached;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(this.url, { signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
        const body = (await res.text()).trim();
        if (res.ok && body !== '' && body !== 'None') {
          this.cached = parseIso8601(body);
          this.fetchedAt = Date.now();
          return this.cached;
        }
        if (attempt === 0) this.log.info({ url: this.url }, 'waiting for the replay time from the time-sync endpoint');
      } catch (err) {
        if (this.cached !== null) return this.cached;
        if (attempt % 30 === 0) this.log.warn({ err: toError(err), url: this.url }, 'time-sync endpoint unreachable; waiting');
      }
      if (signal?.aborted) return this.cached ?? DateTime.now();
      await sleep(1000, signal);
    }
  }
}
