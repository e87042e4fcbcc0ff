/**
 * Capped exponential backoff with jitter (0.5×–1.5×), and a sleep that stop() can cut short.
 */
import { setTimeout as delay } from 'node:timers/promises';

export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp * (0.5 + Math.random()));
}

/** Resolves after ms, or early (without throwing) when the signal aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    if ((err as { name?: string }).name !== 'AbortError') throw err;
  }
}
