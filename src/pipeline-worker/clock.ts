/**
 * The pipeline worker's "now", which decides when a stream is due (leases use database time).
 * Normally the wall clock. With winchester.yaml `time_sync_endpoint` (spec §4.8, replaying old
 * notifications), it is the replay time the yagi-workers post: `GET <endpoint>/time`, fetched
 * at most every `time_sync_poll_seconds` (upstream: 20) and waiting, 1 s between tries, while
 * the endpoint has no time yet. So replayed streams fire and expire relative to event time.
 */
import type { Logger } from 'pino';
import { parseIso8601 } from '../shared/distiller/iso8601.js';
import { toError } from '../shared/errors.js';
import { sleep } from '../shared/backoff.js';
import { DateTime } from '../shared/time.js';

export interface PipelineClock {
  now(signal?: AbortSignal): Promise<DateTime>;
  readonly replay: boolean;
}

export const wallClock: PipelineClock = { now: async () => DateTime.now(), replay: false };

export class TimeSyncClock implements PipelineClock {
  readonly replay = true;
  private cached: DateTime | null = null;
  private fetchedAt = 0;
  private readonly url: string;

  constructor(endpoint: string, private readonly pollSeconds: number, private readonly log: Logger) {
    this.url = `${endpoint.replace(/\/+$/, '')}/time`;
  }

  async now(signal?: AbortSignal): Promise<DateTime> {
    if (this.cached !== null && Date.now() - this.fetchedAt < this.pollSeconds * 1000) return this.cached;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(this.url, { signal: AbortSignal.timeout(5000) });
        const body = (await res.text()).trim();
        if (res.ok && body !== '' && body !== 'None') {
          this.cached = parseIso8601(body);
          this.fetchedAt = Date.now();
          return this.cached;
        }
        if (attempt === 0) this.log.info({ url: this.url }, 'waiting for the replay time from the time-sync endpoint');
      } catch (err) {
        // A cached time is better than none while the endpoint is briefly away.
        if (this.cached !== null) return this.cached;
        if (attempt % 30 === 0) this.log.warn({ err: toError(err), url: this.url }, 'time-sync endpoint unreachable; waiting');
      }
      if (signal?.aborted) return this.cached ?? DateTime.now();
      await sleep(1000, signal);
    }
  }
}
