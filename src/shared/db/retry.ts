/**
 * Retries an operation while the database is unavailable (transient errors), with capped
 * backoff, until it works or the signal aborts. A duplicate-key error is retried too: in our
 * transactions it means another process created the same row (an event or stream) first, and
 * the retry finds it.
 */
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../backoff.js';
import { toError } from '../errors.js';
import { isDuplicateKey, isTransientDbError } from './errors.js';

export async function retryTransient<T>(what: string, fn: () => Promise<T>, log: Logger, signal?: AbortSignal, maxDelayMs = 10_000): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(isTransientDbError(err) || isDuplicateKey(err)) || signal?.aborted) throw err;
      const waitMs = backoffMs(attempt, 200, maxDelayMs);
      log.warn({ err: toError(err), attempt, waitMs }, `${what}: database unavailable, retrying`);
      await sleep(waitMs, signal);
    }
  }
}
