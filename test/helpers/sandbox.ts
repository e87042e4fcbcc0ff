/**
 * `npm run sandbox` (the built dist/sandbox/main.js) for tests, isolated from a developer's
 * sandbox and from other test files: its own PM2_HOME, directory, database, app prefix and
 * vhost names (random), on the services MYSQL_URL / AMQP_URL name. `cleanup()` resets it and
 * kills its pm2 daemon; call it in afterAll so it runs when a test fails too.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SandboxState } from '../../src/sandbox/deployment.js';
import { amqpUrl } from './amqp.js';
import { serverUrl } from './db.js';
import { ROOT } from './processes.js';

const run = promisify(execFile);
const PM2 = join(ROOT, 'node_modules/.bin/pm2');

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class TestSandbox {
  readonly id = randomBytes(3).toString('hex');
  readonly root = mkdtempSync(join(tmpdir(), 'stv3-sandbox-'));
  readonly dir = join(this.root, 'sandbox');
  readonly database = `stv3_sbxt_${this.id}`;
  readonly prefix = `sbxt${this.id}`;
  readonly env: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: join(this.root, 'pm2'), MYSQL_URL: serverUrl().href, AMQP_URL: amqpUrl() };

  /** `node dist/sandbox/main.js --dir … --database … --prefix … ARGS`. */
  run(...args: string[]): Promise<CommandResult> {
    return new Promise((resolve) => {
      execFile(process.execPath, [join(ROOT, 'dist/sandbox/main.js'), '--dir', this.dir, '--database', this.database, '--prefix', this.prefix, ...args], { cwd: ROOT, env: this.env, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  state(): SandboxState {
    return JSON.parse(readFileSync(join(this.dir, 'state.json'), 'utf8')) as SandboxState;
  }

  /** The processes of this sandbox's pm2 daemon. */
  async apps(): Promise<{ name: string; pid: number; status: string }[]> {
    const { stdout } = await run(PM2, ['jlist'], { env: this.env, cwd: ROOT });
    return (JSON.parse(stdout.slice(stdout.indexOf('['))) as { name: string; pid: number; pm2_env: { status: string } }[]).map((p) => ({ name: p.name, pid: p.pid, status: p.pm2_env.status }));
  }

  /** The last lines pm2 kept of one app's log (`pm2 logs APP --nostream`). */
  async logs(app: string, lines = 200): Promise<string> {
    const { stdout } = await run(PM2, ['logs', app, '--nostream', '--lines', String(lines)], { env: this.env, cwd: ROOT });
    return stdout;
  }

  async cleanup(): Promise<void> {
    await this.run('--reset');
    await run(PM2, ['kill'], { env: this.env, cwd: ROOT }).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
