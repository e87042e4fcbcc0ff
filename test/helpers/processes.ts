/**
 * Runs the built workers (dist/) as child processes, the way pm2 does: with an IPC channel so
 * the `ready` message arrives, stdout collected as JSON log lines. Every process started here is
 * killed when the test file ends, even if the test failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly stderr: string[];
  /** Resolves when pm2 would consider the process ready. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves with the first log line the predicate accepts. */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function startProcess(script: string, args: string[], env: Record<string, string> = {}): RunningProcess {
  const child = spawn(process.execPath, [`${ROOT}dist/${script}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, STV3_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  let readyFlag = false;
  let exitCode: number | null | undefined;
  const notify = (): void => listeners.forEach((l) => l());
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
    notify();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString('utf8'));
    notify();
  });
  child.on('message', (m) => {
    if (m === 'ready') readyFlag = true;
    notify();
  });
  child.on('exit', (code) => {
    exitCode = code;
    running.delete(child);
    notify();
  });
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const tick = (): void => {
        const v = check();
        if (v !== undefined) {
          listeners.delete(tick);
          clearTimeout(timer);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(tick);
        reject(new Error(`timed out waiting for ${what}; stderr: ${stderr.join('')}; last log lines: ${JSON.stringify(lines.slice(-5))}`));
      }, timeoutMs);
      listeners.add(tick);
      tick();
    });
  return {
    child,
    lines,
    stderr,
    ready: (timeoutMs = 30_000) =>
      until(() => {
        if (readyFlag) return true;
        if (exitCode !== undefined) throw new Error(`process exited with ${exitCode} before ready: ${stderr.join('')}`);
        return undefined;
      }, timeoutMs, 'ready').then(() => undefined),
    waitForLog: (pred, timeoutMs = 30_000) => until(() => lines.find(pred), timeoutMs, 'a log line'),
    exited: () => until(() => (exitCode !== undefined ? { code: exitCode } : undefined), 60_000, 'exit').then((r) => r.code),
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}

/** Polls until fn returns a value that passes, or times out with the last value in the message. */
export async function eventually<T>(fn: () => Promise<T>, pass: (v: T) => boolean, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await fn();
    if (pass(last)) return last;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
