/**
 * The product under real pm2, as operators run it: `pm2 start ecosystem.config.js` for one cell
 * and two pipeline workers, streams completed from published notifications, `pm2 scale
 * pipeline-worker 3`, and a graceful `pm2 stop all` (nothing lost, no stream left claimed).
 * pm2 runs with its own PM2_HOME, so it never touches another pm2 on the machine.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { DateTime } from '../../src/shared/time.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig, writeFireOnCreate } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, ROOT } from '../helpers/processes.js';

const run = promisify(execFile);
const PM2 = join(ROOT, 'node_modules/.bin/pm2');
const pm2Home = mkdtempSync(join(tmpdir(), 'stv3-pm2-'));

async function pm2(...args: string[]): Promise<string> {
  const { stdout } = await run(PM2, args, { env: { ...process.env, PM2_HOME: pm2Home }, cwd: ROOT, timeout: 120_000 });
  return stdout;
}

async function processes(): Promise<{ name: string; status: string }[]> {
  const list = JSON.parse(await pm2('jlist')) as { name: string; pm2_env: { status: string } }[];
  return list.map((p) => ({ name: p.name, status: p.pm2_env.status }));
}

let publisher: Publisher;
let db: TestDatabase;
beforeAll(async () => {
  publisher = await Publisher.open();
  db = await createTestDatabase(import.meta.url);
});
afterAll(async () => {
  await pm2('kill').catch(() => undefined);
  await publisher.close();
  await db.close();
});

describe('pm2', () => {
  it('starts the ecosystem, completes streams, scales the pipeline workers, and stops gracefully', async () => {
    const exchange = randomName('nova');
    const queue = randomName('notifications.info');
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: 'east', localFilesFirst: true });
    // Streams (one per instance) that fire as soon as the instance's create.end is in.
    writeFireOnCreate(cfg.dir);
    const deployment = join(mkdtempSync(join(tmpdir(), 'stv3-deploy-')), 'deployment.yaml');
    const apiPort = 20_000 + Math.floor(Math.random() * 20_000);
    writeFileSync(deployment, `winchester_config: ${cfg.winchesterYaml}\npipeline_workers: 2\nkill_timeout_seconds: 20\ncells:\n  - {name: east, yagi_config: ${cfg.yagiConf}}\napi: {instances: 2, port: ${apiPort}}\n`);

    await run(PM2, ['start', 'ecosystem.config.js'], { env: { ...process.env, PM2_HOME: pm2Home, STV3_DEPLOYMENT: deployment }, cwd: ROOT, timeout: 120_000 });
    expect((await processes()).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'api', status: 'online' },
      { name: 'api', status: 'online' },
      { name: 'pipeline-worker', status: 'online' },
      { name: 'pipeline-worker', status: 'online' },
      { name: 'yagi-east', status: 'online' },
    ]);

    // Lifecycles of today, so that streams are live and fire by the wall clock.
    const first = makeNotifications(600, 41, DateTime.now().startOfDay());
    await publisher.publishAll(exchange, queue, first.map(encodeOsloV2));
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 600, 60_000);
    const creates = new Set(first.filter((n) => n['event_type'] === 'compute.instance.create.end').map((n) => (n['payload'] as Record<string, unknown>)['instance_id'])).size;
    expect(creates).toBeGreaterThan(0);
    await eventually(() => count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.completed}`), (n) => n >= creates, 30_000);
    // The two API instances share the port and see what the workers did.
    expect(await (await fetch(`http://127.0.0.1:${apiPort}/health`)).json()).toEqual({ status: 'ok', database: 'reachable', migrations: 'current' });
    const [{ count: completed }] = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/streams/count?state=completed`)).json()) as [{ count: number }];
    expect(completed).toBeGreaterThanOrEqual(creates);

    await pm2('scale', 'pipeline-worker', '3');
    await eventually(processes, (ps) => ps.filter((p) => p.name === 'pipeline-worker' && p.status === 'online').length === 3, 30_000);

    // More traffic, then stop everything while it flows.
    const second = makeNotifications(3000, 42, DateTime.now().startOfDay());
    await publisher.publishAll(exchange, queue, second.map(encodeOsloV2));
    await pm2('stop', 'all');
    expect((await processes()).every((p) => p.status === 'stopped')).toBe(true);
    expect(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state IN (${StreamState.firing}, ${StreamState.expiring})`)).toBe(0);

    // Nothing lost: what was not stored is still in the queue, and a restart takes it in.
    const stored = await count(db.pool, 'SELECT COUNT(*) AS n FROM event');
    const { messageCount } = await publisher.ch.checkQueue(queue);
    expect(stored + messageCount).toBeGreaterThanOrEqual(3600);
    await pm2('start', 'all');
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 3600, 60_000);
    await pm2('stop', 'all');
    expect(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state IN (${StreamState.firing}, ${StreamState.expiring})`)).toBe(0);
    // The logs carry each process's JSON lines under readable names.
    const logs = await pm2('logs', '--nostream', '--lines', '200', 'yagi-east');
    expect(logs).toMatch(/"cell":"east"/);
    await publisher.ch.deleteQueue(queue);
    await publisher.ch.deleteExchange(exchange);
  }, 240_000);
});
