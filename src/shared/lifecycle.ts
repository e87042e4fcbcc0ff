/**
 * Process lifecycle shared by the workers: pm2's `ready` message, and the two-stage shutdown.
 * The first SIGINT/SIGTERM (pm2 sends SIGINT, then SIGKILL after kill_timeout) runs the
 * graceful stop; a second signal aborts `forceSignal` so retries give up, and exits soon after.
 */
import type { Logger } from 'pino';
import { ConfigError, toError } from './errors.js';

export interface Shutdown {
  /** Aborted on the second signal. */
  readonly forceSignal: AbortSignal;
  /** Aborted on the first signal. */
  readonly stopSignal: AbortSignal;
}

export function handleSignals(log: Logger, graceful: () => Promise<void>, forceExitMs = 3000): Shutdown {
  const stop = new AbortController();
  const force = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stop.signal.aborted) {
      log.info({ signal }, 'shutting down: finishing the work in hand (send the signal again to force)');
      stop.abort();
      graceful().then(
        () => {
          // After a forced stop, unacked work was left to redelivery: say so in the exit code.
          log.info({ forced: force.signal.aborted }, 'stopped');
          process.exit(force.signal.aborted ? 130 : 0);
        },
        (err: unknown) => {
          log.error({ err: toError(err) }, 'graceful shutdown failed');
          process.exit(1);
        },
      );
      return;
    }
    log.warn({ signal }, 'second signal: forcing shutdown; unacked work will be redelivered');
    force.abort();
    setTimeout(() => process.exit(130), forceExitMs).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { forceSignal: force.signal, stopSignal: stop.signal };
}

/** Tells pm2 (wait_ready: true) that the process is connected and working. */
export function notifyReady(): void {
  process.send?.('ready');
}

/** Prints a start-up failure for an operator and exits non-zero. */
export function exitOnStartupError(err: unknown, what: string): never {
  const e = toError(err);
  process.stderr.write(`${what}: ${e instanceof ConfigError ? 'configuration error: ' : ''}${e.message}\n`);
  process.exit(1);
}
