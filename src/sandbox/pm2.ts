/**
 * pm2, driven through its own command line (node_modules/.bin/pm2), as a person would: the
 * sandbox's apps live in the daemon of PM2_HOME (default ~/.pm2), next to anyone else's, and
 * are only ever touched by name.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './deployment.js';

const run = promisify(execFile);
export const PM2 = join(ROOT, 'node_modules/.bin/pm2');

/** One process of an app, as `pm2 jlist` reports it. */
export interface Pm2Process {
  readonly name: string;
  readonly pid: number;
  readonly status: string;
  readonly restarts: number;
  readonly cpu: number;
  /** Bytes. */
  readonly memory: number;
}

/** Runs `pm2 ARGS` with `env` added; resolves with stdout, rejects with stderr in the message. */
export async function pm2(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await run(PM2, [...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 240_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`pm2 ${args.join(' ')}: ${(e.stderr || e.stdout || e.message).trim().split('\n').slice(-5).join('\n')}`, { cause: err });
  }
}

/** The daemon's processes (every app's), or [] when no daemon runs. */
export async function pm2List(): Promise<Pm2Process[]> {
  const out = await pm2(['jlist']);
  const start = out.indexOf('[');
  if (start < 0) return [];
  const list = JSON.parse(out.slice(start)) as { name: string; pid: number; pm2_env: { status: string; restart_time: number }; monit?: { cpu: number; memory: number } }[];
  return list.map((p) => ({ name: p.name, pid: p.pid, status: p.pm2_env.status, restarts: p.pm2_env.restart_time, cpu: p.monit?.cpu ?? 0, memory: p.monit?.memory ?? 0 }));
}

/** Deletes each named app that exists (SIGINT, then SIGKILL after its kill_timeout), in order. */
export async function pm2Delete(names: readonly string[]): Promise<string[]> {
  const present = new Set((await pm2List()).map((p) => p.name));
  const deleted: string[] = [];
  for (const name of names) {
    if (!present.has(name)) continue;
    await pm2(['delete', name]);
    deleted.push(name);
  }
  return deleted;
}
