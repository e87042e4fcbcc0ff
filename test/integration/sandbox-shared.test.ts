/**
 * `npm run sandbox -- --cell-mode shared`: what a machine without the management API and
 * without rabbitmqctl rights gets. Both cells on the URL's vhost, each with its own exchange and
 * queue; events arrive in both cells; `--reset` deletes the exchanges and queues (notabene's
 * too) and the database. Isolated like sandbox.test.ts (own PM2_HOME, database, names).
 */
import { connect } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/shared/config/database-url.js';
import { createDbPool } from '../../src/shared/db/pool.js';
import { sharedMonitor } from '../../src/sandbox/vhosts.js';
import { amqpUrl } from '../helpers/amqp.js';
import { count } from '../helpers/db.js';
import { eventually, freePort } from '../helpers/processes.js';
import { TestSandbox } from '../helpers/sandbox.js';

const sandbox = new TestSandbox();
afterAll(() => sandbox.cleanup());

/** Whether the broker knows the queue (a passive declare; a 404 closes only its channel). */
async function queueExists(queue: string): Promise<boolean> {
  const conn = await connect(amqpUrl());
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return await ch.checkQueue(queue).then(
      () => true,
      () => false,
    );
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe('npm run sandbox, cells sharing a vhost', () => {
  it('runs both cells on one vhost with their own exchanges and queues, and --reset deletes them', async () => {
    const started = await sandbox.run('--cell-mode', 'shared', '--rate', '50', '--pipeline-workers', '1', '--api-port', String(await freePort()), '--time-sync-port', String(await freePort()), '--duration', '1');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    const p = `stv3-${sandbox.prefix}`;
    expect(started.stdout).toContain(`cells: cell1, cell2 share vhost /`);
    expect(started.stdout).toContain(`${p}.cell1 → ${p}.cell1.notifications.info, ${p}.cell2 → ${p}.cell2.notifications.info`);
    const state = sandbox.state();
    expect(state.layout.mode).toBe('shared');

    const pool = createDbPool(parseDatabaseUrl(state.databaseUrl), { connectionLimit: 1 });
    try {
      // Each cell's yagi-worker stores what its notigen sends to its own exchange.
      await eventually(() => count(pool, 'SELECT COUNT(*) AS n FROM ingest_cell WHERE events_stored >= 50'), (n) => n === 2, 30_000);
    } finally {
      await pool.end();
    }
    expect(await queueExists(`${p}.cell1.notifications.info`)).toBe(true);

    const reset = await sandbox.run('--reset');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`removed exchanges and queues ${p}.cell1.notifications.info, ${p}.cell2.notifications.info`);
    for (const queue of [`${p}.cell1.notifications.info`, `${p}.cell2.notifications.info`, sharedMonitor(p).queue]) expect(await queueExists(queue)).toBe(false);
  }, 90_000);
});
