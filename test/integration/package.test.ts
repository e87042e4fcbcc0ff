/**
 * `npm run package`: the release tarball is reproducible (two runs, byte-identical), holds no
 * development dependency, and runs on its own once unpacked away from this checkout: the
 * `stv3` command answers `--help`, and `migrate --status` / `migrate` work against a database of
 * this file's own. `--deploy --inventory` prints the three ansible-playbook commands.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ROOT } from '../helpers/processes.js';

const run = promisify(execFile);
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const work = mkdtempSync(join(tmpdir(), 'stv3-package-'));

async function packageInto(out: string, ...more: string[]): Promise<{ stdout: string; tarball: string }> {
  const { stdout } = await run(TSX, ['scripts/package.ts', '--out', out, ...more], { cwd: ROOT, timeout: 180_000, maxBuffer: 16 << 20 });
  const m = /^package: (\S+\.tar\.gz) /m.exec(stdout);
  if (!m) throw new Error(`no tarball named in: ${stdout}`);
  return { stdout, tarball: m[1]! };
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url, { migrate: false });
});
afterAll(async () => {
  await db.close();
  rmSync(work, { recursive: true, force: true });
});

describe('npm run package', () => {
  it('builds the same bytes twice, and the unpacked tarball runs with only its own production modules', async () => {
    const first = await packageInto(join(work, 'a'));
    const second = await packageInto(join(work, 'b'));
    expect(second.tarball).not.toBe(first.tarball);
    expect(sha256(second.tarball)).toBe(sha256(first.tarball));

    const { stdout: head } = await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT });
    const { stdout: commitTime } = await run('git', ['log', '-1', '--format=%ct'], { cwd: ROOT });
    const name = /(stv3-[^/]+)\.tar\.gz$/.exec(first.tarball)![1]!;

    // Every entry: owner 0/0, the commit's time, sorted.
    const { stdout: listing } = await run('tar', ['--utc', '--full-time', '-tvzf', first.tarball], { maxBuffer: 64 << 20 });
    const rows = listing.trim().split('\n');
    const when = new Date(Number(commitTime) * 1000).toISOString().replace('T', ' ').slice(0, 19);
    for (const row of rows.slice(0, 50)) expect(row).toMatch(new RegExp(`^\\S+ 0/0 +\\d+ ${when} ${name}/`));
    expect(rows.every((r) => r.includes(` ${when} `))).toBe(true);

    const unpacked = join(work, 'host');
    await run('mkdir', ['-p', unpacked]);
    await run('tar', ['-xzf', first.tarball, '-C', unpacked]);
    const top = join(unpacked, name);
    const version = readFileSync(join(top, 'VERSION'), 'utf8');
    expect(version).toContain(`commit=${head.trim()}`);
    expect(version).toMatch(/^commit_date=\d{4}-\d\d-\d\dT/m);
    for (const shipped of ['dist/cli/main.js', 'dist/yagi-worker/main.js', 'dist/pipeline-worker/main.js', 'dist/api/main.js', 'ecosystem.config.js', 'migrations/0001_initial.sql', 'etc/local/deployment.yaml', 'fixtures/stacktach-upstream/sandbox/triggers.yaml', 'node_modules/.bin/pm2', 'node_modules/mysql2/package.json']) {
      expect(existsSync(join(top, shipped)), shipped).toBe(true);
    }
    for (const dev of ['typescript', 'vitest', 'tsx', 'eslint', 'testcontainers', 'autocannon']) {
      expect(existsSync(join(top, 'node_modules', dev)), dev).toBe(false);
    }

    // Run from the unpacked copy, outside this checkout (no node_modules above it).
    const env = { ...process.env, STV3_DATABASE_URL: db.url, NODE_PATH: '' };
    const stv3 = (...args: string[]) => run(process.execPath, ['dist/cli/main.js', ...args], { cwd: top, env, timeout: 60_000 });
    expect((await stv3('--help')).stdout).toMatch(/Usage: stv3/);
    expect((await stv3('migrate', '--config', 'etc/local/winchester.yaml', '--status')).stdout).toMatch(/pending 0001_initial, .*0005_fire_criteria/);
    expect((await stv3('migrate', '--config', 'etc/local/winchester.yaml')).stdout).toMatch(/applied 0001_initial/);
    expect((await stv3('migrate', '--config', 'etc/local/winchester.yaml', '--status')).stdout).toMatch(/: up to date$/m);
    // The sandbox's service check runs without testcontainers (a dev dependency, loaded only for Docker).
    const check = await run(process.execPath, ['dist/sandbox/main.js', '--check'], { cwd: top, env: { ...env, STV3_DOCKER: '0' }, timeout: 60_000 });
    expect(check.stdout + check.stderr).toMatch(/MariaDB\/MySQL .* at /);
    // The shipped pm2 answers too.
    expect((await run(join(top, 'node_modules/.bin/pm2'), ['--version'], { env: { ...env, PM2_HOME: join(work, 'pm2') }, timeout: 60_000 })).stdout.trim().split('\n').at(-1)).toMatch(/^\d+\.\d+\.\d+$/);
    await run(join(top, 'node_modules/.bin/pm2'), ['kill'], { env: { ...env, PM2_HOME: join(work, 'pm2') }, timeout: 60_000 }).catch(() => undefined);
  }, 240_000);

  it('prints the ansible-playbook commands for the tarball with --deploy', async () => {
    const inventory = join(work, 'hosts.yml');
    writeFileSync(inventory, 'all: {}\n');
    const { stdout, tarball } = await packageInto(join(work, 'c'), '--deploy', '--inventory', inventory);
    const commands = stdout.split('\n').filter((l) => l.startsWith('ansible-playbook '));
    expect(commands).toEqual(
      ['db.yml', 'workers.yml', 'api.yml'].map((p) => `ansible-playbook -i ${inventory} ${join(ROOT, 'deploy/ansible', p)} -e stv3_tarball=${tarball}`),
    );
  }, 120_000);
});
