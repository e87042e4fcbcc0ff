/**
 * `stv3 status --inventory`: real processes (a yagi-worker, a pipeline worker and an API, each
 * serving its metrics) listed in an Ansible inventory with group_vars, plus two hosts that
 * cannot answer (a loopback address nothing listens on, and a remote host whose metrics listen
 * on 127.0.0.1 only). The running ones show up with their ingest rate, totals and streams by
 * state; the others are down with the reason, and the command still answers (exit 1).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStatus } from '../../src/cli/fleet-status.js';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { DateTime } from '../../src/shared/time.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig, writeFireOnCreate } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, ROOT, startProcess } from '../helpers/processes.js';

const run = promisify(execFile);
let db: TestDatabase;
let publisher: Publisher;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
  await db.close();
});

async function status(inventory: string, ...more: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'status', '--inventory', inventory, ...more], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('stv3 status --inventory', () => {
  it('shows every host and cell from the processes, and the unreachable ones as down with the reason', async () => {
    const exchange = randomName('nova');
    const queue = randomName('notifications.info');
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: 'east', localFilesFirst: true });
    writeFireOnCreate(cfg.dir);
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const yagi = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf, '--cell', 'east', '--metrics-port', String(base)]);
    const pipeline = startProcess('pipeline-worker/main.js', ['--config', cfg.winchesterYaml, '--metrics-port', String(base + 100)]);
    const api = startProcess('api/main.js', ['--config', cfg.winchesterYaml, '--port', '0']);
    await Promise.all([yagi.ready(), pipeline.ready(), api.ready()]);
    const apiPort = new URL(String((await api.waitForLog((l) => l['msg'] === 'api listening'))['address'])).port;

    // The inventory as deploy/ansible reads it: hosts.yml, and group_vars/all.yml with the cells.
    const dir = mkdtempSync(join(tmpdir(), 'stv3-inventory-'));
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(join(dir, 'group_vars/all.yml'), `stv3_cells:\n  - {name: east, rabbit_host: 127.0.0.1}\nstv3_metrics_port_base: ${base}\nstv3_pipeline_workers: 1\n`);
    const inventory = join(dir, 'hosts.yml');
    writeFileSync(
      inventory,
      `all:
  children:
    stv3_workers:
      hosts:
        here: {ansible_host: 127.0.0.1}
        gone: {ansible_host: 127.0.0.2, stv3_metrics_host: 0.0.0.0}
        remote.example.com: {stv3_metrics_host: 127.0.0.1}
    stv3_api:
      hosts:
        here: {ansible_host: 127.0.0.1, stv3_api_port: ${apiPort}, stv3_api_host: 127.0.0.1}
`,
    );

    // Traffic while status takes its two readings.
    const notifications = makeNotifications(1200, 5, DateTime.now().startOfDay()).map(encodeOsloV2);
    const reading = status(inventory, '--json', '--interval', '3');
    for (let i = 0; i < 12; i++) {
      await publisher.publishAll(exchange, queue, notifications.slice(i * 100, (i + 1) * 100));
      await new Promise((r) => setTimeout(r, 250));
    }
    const { code, stdout } = await reading;
    expect(code).toBe(1); // some processes are down
    const fleet = JSON.parse(stdout) as FleetStatus;
    const row = (host: string, app: string) => fleet.apps.find((a) => a.host === host && a.app === app);

    const east = row('here', 'yagi-east')!;
    expect(east).toMatchObject({ up: true, health: 'ok', cell: 'east', ingest_paused: false });
    expect(east.ingest_rate).toBeGreaterThan(0);
    expect(east.stored).toBeGreaterThan(0);
    expect(east.waiting).toBeGreaterThanOrEqual(0);
    expect(row('here', 'pipeline-worker 0')).toMatchObject({ up: true, health: 'ok' });
    expect(row('here', 'api')).toMatchObject({ up: true });
    expect(row('gone', 'yagi-east')).toMatchObject({ up: false });
    expect(row('gone', 'yagi-east')!.reason).toMatch(/ECONNREFUSED 127\.0\.0\.2/);
    expect(row('gone', 'pipeline-worker 0')!.reason).toMatch(/ECONNREFUSED/);
    expect(row('remote.example.com', 'yagi-east')!.reason).toMatch(/listens on 127\.0\.0\.1 only/);
    expect(fleet.apps).toHaveLength(7);

    // Streams by state from the API, once the workers are through.
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 1200, 60_000);
    const completed = await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM stream WHERE state = 6'), (n) => n > 0, 60_000);
    await eventually(async () => JSON.parse((await status(inventory, '--json', '--interval', '0.1')).stdout) as FleetStatus, (f) => (f.streams.by_state['completed'] ?? 0) >= completed, 60_000, 500);

    // The table for people.
    const text = await status(inventory, '--interval', '0.5');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^stv3 status of 7 processes \(4 down\)/);
    expect(text.stdout).toMatch(/DOWN: .*ECONNREFUSED/);
    expect(text.stdout).toMatch(/streams by state \(http:\/\/127\.0\.0\.1:\d+\): .*completed \d+/);
    await publisher.ch.deleteQueue(queue);
    await publisher.ch.deleteExchange(exchange);
  }, 180_000);
});
