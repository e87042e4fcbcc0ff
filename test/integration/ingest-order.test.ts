/**
 * Invariant 10: within one yagi-worker, events reach the streams in delivery order, whatever the
 * batch size, prefetch or timing; and the replay clock reaches the time-sync endpoint in that
 * order, one POST at a time, ending on the last notification's time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { instantiate, seededRandom } from '../../src/notigen/templates.js';
import { DateTime } from '../../src/shared/time.js';
import { distinguishingKey } from '../../src/shared/triggers/index.js';
import { openKeyOf } from '../../src/shared/triggers/matching.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { SANDBOX, writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { sandboxDistiller, TEMPLATES } from '../helpers/notifications.js';
import { eventually, startProcess } from '../helpers/processes.js';

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

/** A time-sync endpoint that records what it is sent, optionally slow and single-file. */
async function timeSyncServer(delayMs = 0): Promise<{ url: string; posted: string[]; maxConcurrent: () => number; close(): Promise<void> }> {
  const posted: string[] = [];
  let current = '';
  let active = 0;
  let maxActive = 0;
  const server: Server = createServer((req, res) => {
    active++;
    maxActive = Math.max(maxActive, active);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      setTimeout(() => {
        if (req.method === 'POST') {
          posted.push(body);
          current = body;
        }
        active--;
        res.end(current);
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posted,
    maxConcurrent: () => maxActive,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function update(messageId: string, instanceId: string, timestamp: string): Notification {
  return { message_id: messageId, event_type: 'compute.instance.update', timestamp, publisher_id: 'compute.host1', priority: 'INFO', payload: { instance_id: instanceId, tenant_id: 't1' } };
}

/** Instance ids whose stream keys sort before / after each other (the batch locks keys in key order). */
function instancesInKeyOrder(trigger: string): { first: string; second: string } {
  const keyOf = (id: string): string => openKeyOf(trigger, distinguishingKey([{ name: 'instance_id', value: id }])).toString('hex');
  const a = 'inst-a';
  for (let i = 0; ; i++) {
    const b = `inst-b-${i}`;
    if (keyOf(b) < keyOf(a)) return { first: b, second: a };
  }
}

describe('ingest order', () => {
  it('two notifications of one instance 16 minutes apart, straddling its stream expiry, in overlapping batches: filed in delivery order', async () => {
    const db = await createTestDatabase(`${import.meta.url}#straddle`);
    const sync = await timeSyncServer();
    const exchange = randomName('nova');
    const queue = randomName('notifications.order');
    const cfg = writeCellConfig({
      databaseUrl: db.url,
      exchange,
      queue,
      maxMessages: 2,
      consumerExtra: 'batch_timeout_ms = 50',
      localFilesFirst: true,
      winchesterExtra: `time_sync_endpoint: ${sync.url}`,
    });
    writeFileSync(
      join(cfg.dir, 'triggers.yaml'),
      `- name: short_trigger
  distinguished_by: [instance_id]
  expiration: "$last + 15m"
  fire_pipeline: nothing
  expire_pipeline: nothing
  match_criteria:
  - event_type: compute.instance.*
  fire_criteria:
  - event_type: compute.instance.exists
`,
    );
    writeFileSync(join(cfg.dir, 'pipelines.yaml'), 'nothing:\n  - logger\n');
    writeFileSync(join(cfg.dir, 'event_definitions.yaml'), `- event_type: compute.instance.*\n  traits:\n    instance_id: {fields: payload.instance_id}\n    tenant_id: {fields: payload.tenant_id}\n`);
    const { first: blocker, second: instance } = instancesInKeyOrder('short_trigger');
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    const lock = await db.pool.getConnection();
    try {
      await worker.ready();
      // Stream S of the instance (expires 23:45), and one of the blocker instance.
      await publisher.publishAll(exchange, queue, [update('e0', instance, '2015-02-01 23:30:00'), update('k0', blocker, '2015-02-01 23:30:00')].map(encodeOsloV2));
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent'), (n) => n === 2);
      // Hold the blocker's stream row: the batch [x, a] waits on it inside its transaction.
      const [[blockerStream]] = (await db.pool.query("SELECT id FROM stream WHERE distinguishing_key LIKE ?", [`%${blocker}%`])) as unknown as [[{ id: number }]];
      await lock.beginTransaction();
      await lock.query('SELECT id FROM stream WHERE id = ? FOR UPDATE', [blockerStream.id]);
      // a (23:41) extends S to 23:56; b (23:57) comes 16 minutes later and opens a new stream.
      await publisher.publishAll(exchange, queue, [update('x', blocker, '2015-02-01 23:40:00'), update('a', instance, '2015-02-01 23:41:00'), update('b', instance, '2015-02-01 23:57:00')].map(encodeOsloV2));
      // Long enough for the next batch [b] to have committed if it were not waiting its turn.
      await new Promise((r) => setTimeout(r, 2000));
      await lock.commit();
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent'), (n) => n === 5);
      const [rows] = await db.pool.query(
        `SELECT GROUP_CONCAT(CONVERT(e.message_id USING utf8mb4) ORDER BY e.message_id) AS events
           FROM stream s JOIN streamevent se ON se.stream_id = s.id JOIN event e ON e.id = se.event_id
          WHERE s.distinguishing_key LIKE ? GROUP BY s.id ORDER BY s.id`,
        [`%"${instance}"%`],
      );
      expect((rows as { events: string }[]).map((r) => r.events)).toEqual(['a,e0', 'b']);
    } finally {
      lock.release();
      worker.kill('SIGTERM');
      await worker.exited();
      await publisher.ch.deleteQueue(queue);
      await publisher.ch.deleteExchange(exchange);
      await sync.close();
      await db.close();
    }
  });

  /**
   * Several days of lifecycles of many instances, interleaved in time order as a region sends
   * them, each day closed by Nova's end-of-day .exists.
   */
  function region(total: number, seed: number): Notification[] {
    const random = seededRandom(seed);
    const distiller = sandboxDistiller();
    const usable = TEMPLATES.filter((t) => t.name !== 'eod_exists');
    const eod = TEMPLATES.find((t) => t.name === 'eod_exists')!;
    const out: Notification[] = [];
    for (let day = DateTime.of(2015, 2, 1); out.length < total; day = day.plusSeconds(86_400)) {
      for (let i = 0; i < 60; i++) {
        const lifecycle = instantiate(usable[Math.floor(random() * usable.length)]!, day.plusSeconds(Math.floor(random() * 86_000)), random).filter((n) => distiller.distill(n, day) !== null);
        out.push(...lifecycle);
        const instanceId = (lifecycle[0]?.['payload'] as Record<string, unknown> | undefined)?.['instance_id'];
        if (typeof instanceId === 'string' && random() < 0.7) {
          out.push(...instantiate(eod, day.plusSeconds(86_400 + 300 + i), random, { payload: { instance_id: instanceId, audit_period_beginning: day.toString(), audit_period_ending: day.plusSeconds(86_400).toString() } }));
        }
      }
    }
    return out.slice(0, total).sort((a, b) => String(a['timestamp']).localeCompare(String(b['timestamp'])));
  }

  async function ingest(name: string, notifications: Notification[], maxMessages: number, prefetch: number, slowSyncMs = 0): Promise<{ db: TestDatabase; streams: string[]; posted: string[]; maxConcurrentPosts: number }> {
    const db = await createTestDatabase(`${import.meta.url}#${name}`);
    const sync = await timeSyncServer(slowSyncMs);
    const exchange = randomName('nova');
    const queue = randomName('notifications.det');
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, maxMessages, consumerExtra: `prefetch = ${prefetch}`, configDir: SANDBOX, winchesterExtra: `time_sync_endpoint: ${sync.url}` });
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    try {
      await worker.ready();
      await publisher.publishAll(exchange, queue, notifications.map(encodeOsloV2));
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === notifications.length, 300_000, 500);
      worker.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
      const [rows] = await db.pool.query(
        `SELECT s.distinguishing_key AS k, s.first_event AS f, s.last_event AS l, s.expire_timestamp AS x, s.fire_timestamp AS fi, s.event_count AS n,
                GROUP_CONCAT(CONVERT(e.message_id USING utf8mb4) ORDER BY e.message_id) AS events
           FROM stream s JOIN streamevent se ON se.stream_id = s.id JOIN event e ON e.id = se.event_id GROUP BY s.id`,
      );
      const streams = (rows as Record<string, unknown>[]).map((r) => JSON.stringify(r)).sort();
      return { db, streams, posted: sync.posted, maxConcurrentPosts: sync.maxConcurrent() };
    } finally {
      await publisher.ch.deleteQueue(queue);
      await publisher.ch.deleteExchange(exchange);
      await sync.close();
    }
  }

  it('the same 5,000 notifications with batch sizes 1, 37 and 200 and prefetch 1 and 1,000 give identical streams', async () => {
    const notifications = region(5000, 7);
    const runs = [
      await ingest('det-1', notifications, 1, 1),
      await ingest('det-37', notifications, 37, 1000),
      await ingest('det-200', notifications, 200, 1000),
    ];
    try {
      expect(runs[0]!.streams.length).toBeGreaterThan(200);
      expect(runs[1]!.streams).toEqual(runs[0]!.streams);
      expect(runs[2]!.streams).toEqual(runs[0]!.streams);
      // Some streams fired (the .exists arrived), some are still open.
      expect(runs[0]!.streams.filter((s) => s.includes('"fi":"2015')).length).toBeGreaterThan(50);
    } finally {
      for (const r of runs) await r.db.close();
    }
  }, 900_000);

  it('a slow time-sync endpoint gets one POST at a time, at most one per 20 s of event time, and ends on the last notification', async () => {
    const notifications = region(2000, 11);
    const run = await ingest('clock', notifications, 50, 500, 5);
    try {
      const last = DateTime.parse(String(notifications.at(-1)!['timestamp']));
      expect(run.posted.at(-1)).toBe(last.toString());
      expect(run.maxConcurrentPosts).toBe(1);
      const spanSeconds = last.diffMicros(DateTime.parse(String(notifications[0]!['timestamp']))) / 1e6;
      expect(run.posted.length).toBeLessThanOrEqual(Math.ceil(spanSeconds / 20) + 2);
      expect(run.posted.length).toBeGreaterThan(10);
      // Posted in delivery order: time never goes back (the input is in time order).
      const times = run.posted.map((t) => DateTime.parse(t));
      for (let i = 1; i < times.length; i++) expect(times[i]!.isBefore(times[i - 1]!)).toBe(false);
    } finally {
      await run.db.close();
    }
  }, 120_000);
});
