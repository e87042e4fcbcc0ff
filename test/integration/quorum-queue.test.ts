/**
 * Real-world case 12: oslo.messaging with `rabbit_quorum_queue` declares the notification queue
 * first, durable, `x-queue-type: quorum`, with a delivery limit (`x-delivery-limit`) after which
 * RabbitMQ drops a message. The yagi-worker must consume that queue as it is (warning about
 * each mismatch, no crash loop), never requeue poison (so the limit never drops anything in a
 * normal run), and survive crashes below the limit with every notification stored once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { FIXTURES, writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, startProcess, type RunningProcess } from '../helpers/processes.js';

let publisher: Publisher;
let db: TestDatabase;
const exchange = randomName('nova');
const queue = randomName('notifications.info');
const running: RunningProcess[] = [];

beforeAll(async () => {
  publisher = await Publisher.open();
  db = await createTestDatabase(import.meta.url);
  // As nova's oslo.messaging declares them with rabbit_quorum_queue = true.
  await publisher.ch.assertExchange(exchange, 'topic', { durable: true });
  await publisher.ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 } });
  await publisher.ch.bindQueue(queue, exchange, queue);
});

afterAll(async () => {
  for (const p of running) p.kill('SIGKILL');
  await publisher.ch.deleteQueue(queue).catch(() => undefined);
  await publisher.ch.deleteExchange(exchange).catch(() => undefined);
  await publisher.close();
  await db?.close();
});

/** Publishes persistent messages, as oslo does on durable queues. */
async function publish(bodies: (string | Buffer)[]): Promise<void> {
  for (const body of bodies) publisher.ch.publish(exchange, queue, typeof body === 'string' ? Buffer.from(body) : body, { contentType: 'application/json', persistent: true });
  await publisher.ch.waitForConfirms();
}

function startWorker(yagiConf: string): RunningProcess {
  const worker = startProcess('yagi-worker/main.js', ['--config', yagiConf, '--cell', 'quorum']);
  running.push(worker);
  return worker;
}

describe('a quorum queue oslo declared first (real-world case 12)', () => {
  // The sandbox-style config asks for non-durable objects: both mismatch what exists.
  const cfg = () => writeCellConfig({ databaseUrl: db.url, exchange, queue, durable: false, maxMessages: 20 });

  it('is consumed as it is, with a warning per mismatch; poison is quarantined, never redelivered', async () => {
    const good = makeNotifications(200, 12).map(encodeOsloV2);
    const poison = [readFileSync(join(FIXTURES, 'realworld/08-body.bin')), '{}', 'not json at all', JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{nope' }), '[1, 2]'];
    await publish([...good.slice(0, 100), ...poison, ...good.slice(100)]);
    const { yagiConf } = cfg();
    const worker = startWorker(yagiConf);
    await worker.ready();
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 200);
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM quarantine'), (n) => n === 5);
    const warnings = worker.lines.filter((l) => /exists with other arguments/.test(String(l['msg'])));
    expect(warnings.some((l) => l['queue'] === queue)).toBe(true);
    expect(warnings.some((l) => l['exchange'] === exchange)).toBe(true);
    // Nothing came twice: a redelivery would have been counted as a duplicate.
    await eventually(() => count(db.pool, 'SELECT COALESCE(SUM(events_stored), 0) AS n FROM ingest_cell'), (n) => n === 200);
    expect(await count(db.pool, 'SELECT COALESCE(SUM(duplicates), 0) AS n FROM ingest_cell')).toBe(0);
    const state = await eventually(() => publisher.ch.checkQueue(queue), (q) => q.messageCount === 0);
    expect(state.messageCount).toBe(0);
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
  });

  it('two crashes with batches in flight (fewer than the delivery limit): every notification stored once', async () => {
    const more = makeNotifications(400, 1212).map(encodeOsloV2);
    await publish(more);
    const { yagiConf } = cfg();
    for (let crash = 1; crash <= 2; crash++) {
      const before = await count(db.pool, 'SELECT COUNT(*) AS n FROM event');
      const worker = startWorker(yagiConf);
      await worker.ready();
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n > before, 30_000, 5);
      worker.kill('SIGKILL');
      await worker.exited();
    }
    const worker = startWorker(yagiConf);
    await worker.ready();
    await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 600);
    const state = await eventually(() => publisher.ch.checkQueue(queue), (q) => q.messageCount === 0 && q.consumerCount === 1);
    expect(state.messageCount).toBe(0);
    expect(await count(db.pool, 'SELECT COUNT(DISTINCT message_id) AS n FROM event')).toBe(600);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(5);
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);
  });
});
