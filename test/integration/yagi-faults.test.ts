/**
 * The yagi-worker under faults, with real services: killed with SIGKILL mid-stream and started
 * again; its broker connection closed by the broker and its database sessions killed mid-batch.
 * Either way every notification ends up stored exactly once, without a restart in the second case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase } from '../helpers/db.js';
import { brokerConnections, closeBrokerConnections, holdIngestMidBatch, killDatabaseSessions } from '../helpers/faults.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, startProcess } from '../helpers/processes.js';

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

async function setup(name: string, total: number, seed: number) {
  const db = await createTestDatabase(`${import.meta.url}#${name}`);
  const exchange = randomName('nova');
  const queue = randomName('notifications.info');
  const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: name });
  const notifications = makeNotifications(total, seed);
  const ids = new Set(notifications.map((n) => String(n['message_id'])));
  expect(ids.size).toBe(total);
  const everyEventOnce = async (): Promise<void> => {
    const [rows] = await db.pool.query('SELECT message_id FROM event');
    const stored = (rows as { message_id: string }[]).map((r) => r.message_id);
    expect(stored).toHaveLength(total);
    expect(new Set(stored)).toEqual(ids);
  };
  const cleanup = async (): Promise<void> => {
    await publisher.ch.deleteQueue(queue).catch(() => undefined);
    await publisher.ch.deleteExchange(exchange).catch(() => undefined);
    await db.close();
  };
  return { db, exchange, queue, cfg, notifications, everyEventOnce, cleanup };
}

describe('yagi-worker faults', () => {
  it('killed with SIGKILL mid-stream and started again: every event present once', async () => {
    const total = 4000;
    const s = await setup('sigkill', total, 11);
    try {
      let worker = startProcess('yagi-worker/main.js', ['--config', s.cfg.yagiConf]);
      await worker.ready();
      await publisher.publishAll(s.exchange, s.queue, s.notifications.map(encodeOsloV2));
      await eventually(() => count(s.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n > 300, 30_000, 20);
      worker.kill('SIGKILL');
      expect(await worker.exited()).toBeNull();
      const atKill = await count(s.db.pool, 'SELECT COUNT(*) AS n FROM event');
      expect(atKill).toBeLessThan(total);

      worker = startProcess('yagi-worker/main.js', ['--config', s.cfg.yagiConf]);
      await worker.ready();
      await eventually(() => count(s.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= total);
      await s.everyEventOnce();
      worker.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
    } finally {
      await s.cleanup();
    }
  });

  it('broker closes the connection and the database session is killed mid-batch: recovers by itself, nothing lost or doubled', async () => {
    const total = 6000;
    const s = await setup('cut', total, 12);
    try {
      const worker = startProcess('yagi-worker/main.js', ['--config', s.cfg.yagiConf]);
      await worker.ready();
      const connections = await brokerConnections(`pid ${worker.child.pid}`);
      expect(connections).toHaveLength(1);
      // Publish steadily for several seconds so that the faults land mid-stream.
      const publishing = (async () => {
        for (let i = 0; i < total; i += 250) {
          await publisher.publishAll(s.exchange, s.queue, s.notifications.slice(i, i + 250).map(encodeOsloV2));
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      await eventually(() => count(s.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n > 500, 30_000, 20);
      // Catch a batch inside its transaction, then cut both connections under it.
      const held = await holdIngestMidBatch(s.db.pool, s.db.name);
      try {
        const [, killed] = await Promise.all([closeBrokerConnections(connections), killDatabaseSessions(s.db.pool, s.db.name, held.sessionId)]);
        expect(killed).toBeGreaterThan(0);
      } finally {
        await held.release();
      }
      expect(await count(s.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBeLessThan(total);
      await publishing;

      await eventually(() => count(s.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= total, 90_000);
      await s.everyEventOnce();
      // Same process throughout, and it said what happened.
      expect(worker.child.exitCode).toBeNull();
      expect(worker.lines.some((l) => /broker connection lost/.test(String(l['msg'])))).toBe(true);
      expect(worker.lines.some((l) => /^database: .*; retrying the batch$/.test(String(l['msg'])))).toBe(true);
      expect(worker.lines.filter((l) => l['msg'] === 'consuming').length).toBeGreaterThanOrEqual(2);
      worker.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
    } finally {
      await s.cleanup();
    }
  });
});
