/**
 * `npm run sandbox -- --reset` drops only what its own state.json records: a database that
 * merely has the sandbox's name (another sandbox's, a deployment's) is left alone. And another
 * --prefix is another sandbox, with a database of its own (stv3_<prefix>).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpUrl } from '../helpers/amqp.js';
import { count, createTestDatabase, serverUrl, type TestDatabase } from '../helpers/db.js';
import { ROOT } from '../helpers/processes.js';

let db: TestDatabase;
let root: string;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  root = mkdtempSync(join(tmpdir(), 'stv3-sandbox-reset-'));
});
afterAll(async () => {
  await db?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

function sandbox(...args: string[]): Promise<{ code: number; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PM2_HOME: join(root, 'pm2'), MYSQL_URL: serverUrl().href, AMQP_URL: amqpUrl() };
  delete env['STV3_SANDBOX_DATABASE'];
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/sandbox/main.js'), '--dir', join(root, 'never-started'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

describe('sandbox --reset without a state.json', () => {
  it('leaves a database of the same name as it is, and says so', async () => {
    const reset = await sandbox('--reset', '--prefix', 'sbxreset', '--database', db.name);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`database ${db.name} and vhosts (if any) left as they are`);
    expect(reset.stdout).not.toContain('dropped database');
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [db.name])).toBe(1);
  });

  it('names the database stv3_<prefix> when --database is not given', async () => {
    const reset = await sandbox('--reset', '--prefix', 'sbxreset2');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain('database stv3_sbxreset2 and vhosts (if any) left as they are');
  });
});
