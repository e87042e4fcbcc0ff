/**
 * Invariant 11, with real services: a message is quarantined only for an error its content
 * causes; any other database error stops consumption and is retried without acking anything
 * uncommitted; a deterministic error is not retried forever. And identifiers are exact
 * (migrations/0003): ids that differ only by trailing spaces are different messages.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { closeBrokerChannels } from '../helpers/faults.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, freePort, startProcess, type RunningProcess } from '../helpers/processes.js';

const run = promisify(execFile);

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

const TABLES = ['event_type', 'event', 'trait', 'stream', 'dist_trait', 'streamevent', 'quarantine', 'ingest_cell', 'stv3_schema_migrations'];

/** A MySQL user of its own with per-table grants (so one table's INSERT can be revoked), and its URL. */
async function workerUser(db: TestDatabase): Promise<{ url: string; revoke(tables: string[]): Promise<void>; grant(tables: string[]): Promise<void>; drop(): Promise<void> }> {
  const user = `stv3w_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(8).toString('hex');
  await db.pool.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  for (const t of TABLES) await db.pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db.name}\`.\`${t}\` TO '${user}'@'127.0.0.1'`);
  const url = new URL(db.url);
  url.username = user;
  url.password = password;
  url.hostname = '127.0.0.1';
  return {
    url: url.href,
    revoke: async (tables) => {
      for (const t of tables) await db.pool.query(`REVOKE INSERT ON \`${db.name}\`.\`${t}\` FROM '${user}'@'127.0.0.1'`);
    },
    grant: async (tables) => {
      for (const t of tables) await db.pool.query(`GRANT INSERT ON \`${db.name}\`.\`${t}\` TO '${user}'@'127.0.0.1'`);
    },
    drop: async () => {
      await db.pool.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
    },
  };
}

async function queueDepth(queue: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'messages']);
  const line = stdout.split('\n').find((l) => l.split('\t')[0] === queue);
  return Number(line?.split('\t')[1] ?? NaN);
}

function update(messageId: string, eventType = 'compute.instance.update', extra: Record<string, unknown> = {}): Notification {
  return { message_id: messageId, event_type: eventType, timestamp: '2015-02-01 10:00:00.000001', publisher_id: 'compute.h1', priority: 'INFO', payload: { instance_id: `i-${messageId.length}`, tenant_id: 't1', ...extra } };
}

async function cell(name: string, options: { consumerExtra?: string } = {}) {
  const db = await createTestDatabase(`${import.meta.url}#${name}`);
  const exchange = randomName('nova');
  const queue = randomName('notifications.blame');
  const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: name, maxMessages: 20, consumerExtra: options.consumerExtra ?? '' });
  const start = (env: Record<string, string> = {}): RunningProcess => startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf, '--no-migrate'], env);
  const cleanup = async (): Promise<void> => {
    await publisher.ch.deleteQueue(queue).catch(() => undefined);
    await publisher.ch.deleteExchange(exchange).catch(() => undefined);
    await db.close();
  };
  return { db, exchange, queue, cfg, start, cleanup };
}

describe('blame', () => {
  it('a revoked INSERT grant on event and quarantine, and the broker closing the channel meanwhile: nothing acked, nothing quarantined, all stored once it is restored', async () => {
    const c = await cell('grant');
    const u = await workerUser(c.db);
    let worker: RunningProcess | undefined;
    try {
      // A worker on its own database user.
      const cfg = writeCellConfig({ databaseUrl: u.url, exchange: c.exchange, queue: c.queue, cell: 'grant', maxMessages: 20 });
      const port = await freePort();
      worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf, '--no-migrate', '--metrics-port', String(port)]);
      await worker.ready();
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      await u.revoke(['event', 'quarantine']);
      const notifications = makeNotifications(300, 5);
      await publisher.publishAll(c.exchange, c.queue, notifications.map(encodeOsloV2));
      const paused = await worker.waitForLog((l) => /^ingest paused: the database refuses writes \(ER_TABLEACCESS_DENIED_ERROR/.test(String(l['msg'])), 30_000);
      expect(paused['level']).toBe('error');
      // Health and metrics say so.
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(503);
      expect(await health.text()).toMatch(/^ingest paused: the database refuses writes \(ER_TABLEACCESS_DENIED_ERROR/);
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^stv3_ingest_database_blocked\{[^}]*cell="grant"[^}]*\} 1$/m);
      // As RabbitMQ's consumer_timeout does during a long outage: the channel is closed under
      // the worker, its connection stays; it must consume again on its own.
      await closeBrokerChannels(`pid ${worker.child.pid}`);
      await worker.waitForLog((l) => /consumer channel closed; reconnecting/.test(String(l['msg'])), 30_000);
      await worker.waitForLog((l) => l['msg'] === 'consuming' && Number(l['generation']) === 2, 30_000);
      await new Promise((r) => setTimeout(r, 2000));
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(0);
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
      expect(await queueDepth(c.queue)).toBe(300);
      await u.grant(['event', 'quarantine']);
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 300, 60_000);
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
      await eventually(() => queueDepth(c.queue), (n) => n === 0, 30_000);
      expect(worker.child.exitCode).toBeNull();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^stv3_ingest_notifications_total\{outcome="stored",[^}]*\} 300$/m);
      expect(text).toMatch(/^stv3_ingest_database_blocked\{[^}]*\} 0$/m);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      worker?.kill('SIGKILL');
      await u.drop();
      await c.cleanup();
    }
  });

  it('a second stop signal while a batch is retrying: exits without acking it', async () => {
    const c = await cell('force');
    const u = await workerUser(c.db);
    try {
      const cfg = writeCellConfig({ databaseUrl: u.url, exchange: c.exchange, queue: c.queue, cell: 'force', maxMessages: 5 });
      const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf, '--no-migrate']);
      await worker.ready();
      await u.revoke(['event']);
      await publisher.publishAll(c.exchange, c.queue, makeNotifications(12, 6).map(encodeOsloV2));
      await worker.waitForLog((l) => /^ingest paused/.test(String(l['msg'])), 30_000);
      worker.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      worker.kill('SIGTERM');
      expect(await worker.exited()).not.toBe(0);
      await u.grant(['event']);
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(0);
      await eventually(() => queueDepth(c.queue), (n) => n === 12, 20_000);
    } finally {
      await u.drop();
      await c.cleanup();
    }
  });

  it('message_ids and event types that differ only by trailing spaces are different messages; none wedges the queue', async () => {
    const c = await cell('spaces');
    const worker = c.start();
    try {
      await worker.ready();
      const bodies = [update('abc'), update('abc '), update('abc  '), update('sp-1', 'compute.instance.update '), update('sp-2', 'compute.instance.update'), update('sp-3', 'compute.instance.update ')];
      await publisher.publishAll(c.exchange, c.queue, bodies.map(encodeOsloV2));
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 6, 20_000);
      const [ids] = await c.db.pool.query('SELECT message_id FROM event ORDER BY id');
      expect((ids as { message_id: string }[]).map((r) => r.message_id)).toEqual(['abc', 'abc ', 'abc  ', 'sp-1', 'sp-2', 'sp-3']);
      const [types] = await c.db.pool.query('SELECT t.`desc` AS type, COUNT(*) AS n FROM event e JOIN event_type t ON t.id = e.event_type_id GROUP BY t.id ORDER BY t.`desc`');
      expect(types).toEqual([
        { type: 'compute.instance.update', n: 4 },
        { type: 'compute.instance.update ', n: 2 },
      ]);
      await eventually(() => queueDepth(c.queue), (n) => n === 0);
    } finally {
      worker.kill('SIGKILL');
      await c.cleanup();
    }
  });

  it('poison with a huge message_id or an unpaired surrogate is quarantined with a bounded reason', async () => {
    const c = await cell('huge');
    const worker = c.start();
    try {
      await worker.ready();
      const huge = 'x'.repeat(200_000);
      const bodies = [encodeOsloV2(update(huge)), JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{"message_id": "a\\ud800b", "event_type": "compute.instance.update", "timestamp": "2015-02-01 10:00:00", "payload": {"instance_id": "i"}}' }), encodeOsloV2(update('fine'))];
      await publisher.publishAll(c.exchange, c.queue, bodies);
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine'), (n) => n === 2, 20_000);
      const [rows] = await c.db.pool.query('SELECT reason, CHAR_LENGTH(message_id) AS idLength, body_size FROM quarantine ORDER BY id');
      const q = rows as { reason: string; idLength: number; body_size: number }[];
      expect(q[0]!.reason).toMatch(/message_id longer than 255 characters/);
      expect(q[0]!.idLength).toBe(255);
      expect(q[0]!.body_size).toBeGreaterThan(200_000);
      expect(q[1]!.reason).toMatch(/message_id is not valid Unicode/);
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 1);
    } finally {
      worker.kill('SIGKILL');
      await c.cleanup();
    }
  });

  it('a value the database rejects (an indexed trait over 64 KiB) quarantines that message only; the batch around it is stored', async () => {
    const c = await cell('content');
    const worker = c.start();
    try {
      await worker.ready();
      const bodies = Array.from({ length: 10 }, (_, i) => update(`c-${i}`, 'compute.instance.update', i === 4 ? { tenant_id: 't'.repeat(70_000) } : {}));
      await publisher.publishAll(c.exchange, c.queue, bodies.map(encodeOsloV2));
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 9, 20_000);
      const [rows] = await c.db.pool.query('SELECT message_id, reason FROM quarantine');
      expect(rows).toEqual([{ message_id: 'c-4', reason: expect.stringMatching(/^could not be stored: ER_DATA_TOO_LONG.*\(indexed trait tenant_id is 70000 bytes; an indexed text trait holds at most 65535 bytes/) as unknown }]);
    } finally {
      worker.kill('SIGKILL');
      await c.cleanup();
    }
  });

  it('a message the database refuses every time while it accepts others: quarantined after max_attempts, not retried forever', async () => {
    const c = await cell('deterministic', { consumerExtra: 'max_attempts = 3' });
    // An error the classification does not know (SIGNAL → 1644), for one message_id only.
    await c.db.pool.query("CREATE TRIGGER refuse_one BEFORE INSERT ON event FOR EACH ROW BEGIN IF NEW.message_id = 'refused' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a trigger'; END IF; END");
    const worker = c.start();
    try {
      await worker.ready();
      await publisher.publishAll(c.exchange, c.queue, ['d-1', 'refused', 'd-2'].map((id) => encodeOsloV2(update(id))));
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine'), (n) => n === 1, 30_000);
      const [rows] = await c.db.pool.query('SELECT message_id, reason FROM quarantine');
      expect(rows).toEqual([{ message_id: 'refused', reason: expect.stringMatching(/^failed 3 times alone while the database accepted other writes: .*refused by a trigger/) as unknown }]);
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 2);
      await eventually(() => queueDepth(c.queue), (n) => n === 0);
    } finally {
      worker.kill('SIGKILL');
      await c.cleanup();
    }
  });

  it('the same unknown error on every write (the canary fails too): nothing is blamed, ingest waits', async () => {
    const c = await cell('outage');
    await c.db.pool.query("CREATE TRIGGER refuse_all BEFORE INSERT ON event FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'storage offline'");
    const worker = c.start();
    try {
      await worker.ready();
      await publisher.publishAll(c.exchange, c.queue, ['o-1', 'o-2', 'o-3'].map((id) => encodeOsloV2(update(id))));
      const paused = await worker.waitForLog((l) => /^ingest paused: the database refuses writes \(.*storage offline\)/.test(String(l['msg'])), 30_000);
      expect(paused['level']).toBe('error');
      await new Promise((r) => setTimeout(r, 3000));
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
      expect(await queueDepth(c.queue)).toBe(3);
      await c.db.pool.query('DROP TRIGGER refuse_all');
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 3, 60_000);
      expect(await count(c.db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
    } finally {
      worker.kill('SIGKILL');
      await c.cleanup();
    }
  });
});

