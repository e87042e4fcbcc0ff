/**
 * The yagi-worker against a real RabbitMQ and MariaDB: exactly-once storage of oslo 2.0
 * notifications, idempotence on redelivery and republishing, quarantine of poison, and a queue
 * that oslo declared first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { decodeTraits } from '../../src/shared/store/trait-codec.js';
import { DateTime } from '../../src/shared/time.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeNotifications, sandboxDistiller } from '../helpers/notifications.js';
import { eventually, startProcess, type RunningProcess } from '../helpers/processes.js';

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

interface Cell {
  db: TestDatabase;
  exchange: string;
  queue: string;
  worker: RunningProcess;
  stop(): Promise<void>;
}

async function startCell(name: string, extra: { consumerExtra?: string; durable?: boolean; beforeStart?: (exchange: string, queue: string) => Promise<void> } = {}): Promise<Cell> {
  const db = await createTestDatabase(`${import.meta.url}#${name}`);
  const exchange = randomName('nova');
  const queue = randomName('notifications.info');
  await extra.beforeStart?.(exchange, queue);
  const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, ...extra });
  const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
  await worker.ready();
  return {
    db,
    exchange,
    queue,
    worker,
    stop: async () => {
      worker.kill('SIGTERM');
      await worker.exited();
      await publisher.ch.deleteQueue(queue).catch(() => undefined);
      await publisher.ch.deleteExchange(exchange).catch(() => undefined);
      await db.close();
    },
  };
}

describe('yagi-worker ingest', () => {
  it('stores 1,000 oslo 2.0 notifications exactly once, with the distilled traits, and again 1,000 after republishing', async () => {
    const cell = await startCell('thousand');
    try {
      const notifications = makeNotifications(1000, 1);
      await publisher.publishAll(cell.exchange, cell.queue, notifications.map(encodeOsloV2));
      await eventually(() => count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= 1000);

      // Every event, with exactly the traits our distiller gives (the distiller itself is
      // checked against upstream's golden output in the unit tests).
      const distiller = sandboxDistiller();
      const [rows] = await cell.db.pool.query('SELECT e.message_id, e.generated, t.`desc` AS event_type, e.traits FROM event e JOIN event_type t ON t.id = e.event_type_id');
      const stored = new Map((rows as { message_id: string; generated: string; event_type: string; traits: string }[]).map((r) => [r.message_id, r]));
      expect(stored.size).toBe(1000);
      for (const n of notifications) {
        const expected = distiller.distill(n, DateTime.now())!;
        const row = stored.get(expected.messageId)!;
        expect(row, expected.messageId).toBeDefined();
        expect(row.event_type).toBe(expected.eventType);
        expect(DateTime.parse(row.generated).equals(expected.timestamp)).toBe(true);
        expect(decodeTraits(row.traits)).toEqual({ ...expected.traits });
      }
      // The indexed traits are in the typed table too.
      const withInstance = notifications.filter((n) => distiller.distill(n, DateTime.now())!.traits['instance_id'] !== undefined).length;
      expect(await count(cell.db.pool, "SELECT COUNT(*) AS n FROM trait WHERE name = 'instance_id' AND type = 1")).toBe(withInstance);

      // The same 1,000 again: nothing new, and the duplicates are counted in the statistics.
      await publisher.publishAll(cell.exchange, cell.queue, notifications.map(encodeOsloV2));
      await eventually(
        async () => cell.worker.lines.reduce((sum, l) => sum + (typeof l['duplicates'] === 'number' ? l['duplicates'] : 0), 0),
        (dups) => dups >= 1000,
      );
      expect(await count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(1000);
      expect(await count(cell.db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
    } finally {
      await cell.stop();
    }
  });

  it('quarantines 100 malformed bodies of varied kinds with their reasons, stores the good ones around them, and stays alive', async () => {
    const cell = await startCell('poison', { consumerExtra: 'max_body_bytes = 16384' });
    try {
      const good = makeNotifications(200, 2);
      const kinds = malformedBodies(100);
      const bad = [...kinds];
      const bodies: (string | Buffer)[] = [];
      good.forEach((n, i) => {
        bodies.push(encodeOsloV2(n));
        if (i % 2 === 0 && bad.length > 0) bodies.push(bad.shift()!.body);
      });
      await publisher.publishAll(cell.exchange, cell.queue, bodies);
      await eventually(() => count(cell.db.pool, 'SELECT (SELECT COUNT(*) FROM event) + (SELECT COUNT(*) FROM quarantine) AS n'), (n) => n >= 300);
      expect(await count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(200);
      const [rows] = await cell.db.pool.query('SELECT reason, body, queue, cell, body_size, properties FROM quarantine ORDER BY id');
      const q = rows as { reason: string; body: Buffer; queue: string; cell: string; body_size: number; properties: string }[];
      expect(q).toHaveLength(100);
      // Two batches commit at once, so rows are matched to what was sent by body.
      const sent = new Map<string, (typeof kinds)[number][]>();
      for (const k of kinds) sent.set(k.body, [...(sent.get(k.body) ?? []), k]);
      for (const row of q) {
        const expected = sent.get(row.body.toString('utf8'))?.pop();
        expect(expected, row.reason).toBeDefined();
        expect(row.reason, expected!.kind).toMatch(expected!.reason);
        expect(row.queue).toBe(cell.queue);
        expect(row.cell).toBe('cell1');
        expect(row.body_size).toBe(Buffer.byteLength(expected!.body));
        // The AMQP properties the publisher set (publishAll), for the operator tracing it.
        expect(JSON.parse(row.properties)).toEqual({ contentType: 'application/json', deliveryMode: 1 });
      }
      expect([...sent.values()].flat()).toHaveLength(0);
      // Still consuming after all that.
      const more = makeNotifications(5, 3, DateTime.of(2016, 1, 1));
      await publisher.publishAll(cell.exchange, cell.queue, more.map(encodeOsloV2));
      await eventually(() => count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 205);
    } finally {
      await cell.stop();
    }
  });

  it('consumes a queue oslo.messaging declared first with other arguments, warning about the mismatch', async () => {
    const cell = await startCell('oslo-declared', {
      durable: true, // the config asks for durable; oslo declared it non-durable
      beforeStart: async (exchange, queue) => {
        await publisher.ch.assertExchange(exchange, 'topic', { durable: false });
        await publisher.ch.assertQueue(queue, { durable: false, autoDelete: false });
        await publisher.ch.bindQueue(queue, exchange, queue);
      },
    });
    try {
      expect(cell.worker.lines.some((l) => l['queue'] === cell.queue && /exists with other arguments/.test(String(l['msg'])))).toBe(true);
      const notifications = makeNotifications(50, 4);
      await publisher.publishAll(cell.exchange, cell.queue, notifications.map(encodeOsloV2));
      await eventually(() => count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 50);
    } finally {
      await cell.stop();
    }
  });

  it('accepts bare oslo 1.0 notifications too', async () => {
    const cell = await startCell('v1');
    try {
      const notifications = makeNotifications(20, 5);
      await publisher.publishAll(cell.exchange, cell.queue, notifications.map((n) => JSON.stringify(n)));
      await eventually(() => count(cell.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 20);
    } finally {
      await cell.stop();
    }
  });
});

/** Bodies that must be quarantined, cycling through every kind of poison, with the expected reason. */
function malformedBodies(n: number): { kind: string; body: string; reason: RegExp }[] {
  const valid = (over: Partial<Notification>, drop: string[] = []): string => {
    const base: Notification = { ...makeNotifications(1, 99)[0]!, message_id: `poison-${Math.random()}`, ...over };
    for (const k of drop) delete base[k];
    return encodeOsloV2(base);
  };
  const kinds: { kind: string; body: () => string; reason: RegExp }[] = [
    { kind: 'not json', body: () => '{"oslo.version": "2.0", "oslo.mess', reason: /body is not JSON/ },
    { kind: 'json array', body: () => '[1, 2, 3]', reason: /not a JSON object/ },
    { kind: 'inner not json', body: () => JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{nope' }), reason: /oslo\.message is not JSON/ },
    { kind: 'inner not string', body: () => JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': { a: 1 } }), reason: /must be a JSON string/ },
    { kind: 'unknown envelope version', body: () => JSON.stringify({ 'oslo.version': '3.0', 'oslo.message': '{}' }), reason: /unknown oslo envelope version/ },
    { kind: 'no event_type', body: () => valid({}, ['event_type']), reason: /event_type/ },
    { kind: 'no message_id', body: () => valid({}, ['message_id']), reason: /message_id/ },
    { kind: 'empty message_id', body: () => valid({ message_id: '' }), reason: /message_id is empty/ },
    { kind: 'bad timestamp', body: () => valid({ timestamp: 'yesterday-ish' }), reason: /timestamp/ },
    { kind: 'bad int trait', body: () => valid({ payload: { ...(makeNotifications(1, 98)[0]!['payload'] as object), memory_mb: 'lots' } }), reason: /memory_mb/ },
    { kind: 'oversize', body: () => valid({ padding: 'x'.repeat(20000) }), reason: /exceeds max_body_bytes 16384/ },
  ];
  return Array.from({ length: n }, (_, i) => {
    const k = kinds[i % kinds.length]!;
    return { kind: k.kind, body: k.body(), reason: k.reason };
  });
}
