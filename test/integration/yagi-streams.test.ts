/**
 * Streams built by real yagi-workers from notigen lifecycles through the upstream sandbox
 * triggers.yaml (one stream per instance per UTC day; the end-of-day .exists joins day D's
 * stream through audit_period_beginning and makes it ready to fire), replayed with time sync
 * so that "now" is each notification's own time, as upstream's replay mode.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { instantiate, seededRandom } from '../../src/notigen/templates.js';
import { DateTime } from '../../src/shared/time.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { SANDBOX, writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { sandboxDistiller, TEMPLATES } from '../helpers/notifications.js';
import { loadTriggerDefinitions, type TimeRangeValue } from '../../src/shared/triggers/index.js';
import { join } from 'node:path';
import { eventually, startProcess, type RunningProcess } from '../helpers/processes.js';

let publisher: Publisher;
let timeServer: Server;
let timeUrl: string;
const postedTimes: string[] = [];
beforeAll(async () => {
  publisher = await Publisher.open();
  timeServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST') postedTimes.push(body);
      res.end(postedTimes.at(-1) ?? '');
    });
  });
  await new Promise<void>((r) => timeServer.listen(0, '127.0.0.1', r));
  timeUrl = `http://127.0.0.1:${(timeServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await publisher.close();
  await new Promise((r) => timeServer.close(r));
});

/**
 * Day D's lifecycles for `instances` instances (random templates at random times of the day),
 * each followed by Nova's end-of-day .exists for day D, sent just after midnight.
 */
function dayOfNotifications(day: DateTime, instances: number, seed: number): Notification[] {
  const random = seededRandom(seed);
  const distiller = sandboxDistiller();
  const usable = TEMPLATES.filter((t) => t.name !== 'eod_exists' && !t.name.includes('delete'));
  const eod = TEMPLATES.find((t) => t.name === 'eod_exists')!;
  const out: Notification[] = [];
  for (let i = 0; i < instances; i++) {
    const start = day.plusSeconds(3600 + Math.floor(random() * 18 * 3600));
    const lifecycle = instantiate(usable[Math.floor(random() * usable.length)]!, start, random);
    const instanceId = (lifecycle[0]!['payload'] as Record<string, unknown>)['instance_id'] as string;
    // Keep the lifecycle inside day D (some templates carry events from days before).
    out.push(...lifecycle.filter((n) => DateTime.parse(String(n['timestamp'])).startOfDay().equals(day) && distiller.distill(n, day) !== null));
    out.push(
      ...instantiate(eod, day.plusSeconds(86_400 + 600 + i), random, {
        payload: { instance_id: instanceId, audit_period_beginning: day.toString(), audit_period_ending: day.plusSeconds(86_400).toString() },
      }),
    );
  }
  return out.sort((a, b) => String(a['timestamp']).localeCompare(String(b['timestamp'])));
}

interface StreamView {
  instance: string;
  day: string;
  events: string[];
  fire: string | null;
  open: boolean;
}

async function streamViews(db: TestDatabase): Promise<StreamView[]> {
  const [rows] = await db.pool.query(
    `SELECT i.dt_string AS instance, d.dt_timerange_begin AS day, s.fire_timestamp AS fire, s.open_key IS NOT NULL AS open,
            GROUP_CONCAT(CONVERT(e.message_id USING utf8mb4) ORDER BY e.message_id) AS events
       FROM stream s
       JOIN dist_trait i ON i.stream_id = s.id AND i.name = 'instance_id'
       JOIN dist_trait d ON d.stream_id = s.id AND d.name = 'timestamp'
       JOIN streamevent se ON se.stream_id = s.id JOIN event e ON e.id = se.event_id
      GROUP BY s.id ORDER BY instance, day`,
  );
  return (rows as { instance: string; day: string; fire: string | null; open: number; events: string }[]).map((r) => ({ ...r, open: r.open === 1, events: r.events.split(',') }));
}

async function runCells(name: string, perCell: Notification[][]): Promise<TestDatabase> {
  const db = await createTestDatabase(`${import.meta.url}#${name}`);
  const exchange = randomName('nova');
  const cells: { queue: string; worker: RunningProcess }[] = [];
  for (const [i] of perCell.entries()) {
    const queue = randomName(`notifications.cell${i}`);
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: `cell${i}`, maxMessages: 50, winchesterExtra: `time_sync_endpoint: ${timeUrl}` });
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    cells.push({ queue, worker });
  }
  await Promise.all(cells.map((c) => c.worker.ready()));
  // Interleave the cells' messages.
  const longest = Math.max(...perCell.map((n) => n.length));
  for (let k = 0; k < longest; k += 20) {
    await Promise.all(cells.map((c, i) => publisher.publishAll(exchange, c.queue, perCell[i]!.slice(k, k + 20).map(encodeOsloV2))));
  }
  const total = perCell.reduce((s, n) => s + n.length, 0);
  await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= total, 60_000);
  for (const c of cells) {
    c.worker.kill('SIGTERM');
    expect(await c.worker.exited()).toBe(0);
    // The sandbox trigger has debug_level 2: its dump comes with the statistics (spec §4.9).
    const debugLines = c.worker.lines.filter((l) => l['trigger'] === 'test_trigger').map((l) => String(l['msg']));
    expect(debugLines).toContain('---- Trigger Definition: test_trigger ----');
    expect(debugLines.some((l) => /^Match Criteria: \d+ checks, \d+ passed$/.test(l))).toBe(true);
    expect(debugLines.some((l) => /^Counter "Added events" = \d+$/.test(l))).toBe(true);
    await publisher.ch.deleteQueue(c.queue);
  }
  await publisher.ch.deleteExchange(exchange);
  return db;
}

/**
 * What upstream's add_event would build from these notifications, computed in-process with the
 * sandbox definitions and triggers (whose semantics the unit tests check against upstream's
 * recorded output): stream key → message ids, and the fire time: under time sync, the time of
 * the event that completed the fire criteria (the EOD .exists, not a mid-operation one).
 */
function expectedStreams(notifications: Notification[]): { key: string; events: string[]; fire: string | null }[] {
  const distiller = sandboxDistiller();
  const [trigger] = loadTriggerDefinitions(join(SANDBOX, 'triggers.yaml'));
  const streams = new Map<string, { events: string[]; fire: string | null; counts: number[] }>();
  for (const n of notifications) {
    const event = distiller.distill(n, DateTime.now())!;
    const matched = trigger!.match(event);
    if (!matched) continue;
    const values = trigger!.distinguishingTraits(event, matched);
    const key = `${String(values.find((v) => v.name === 'instance_id')!.value)} ${(values.find((v) => v.name === 'timestamp')!.value as TimeRangeValue).begin.toSql()}`;
    const s = streams.get(key) ?? { events: [], fire: null, counts: trigger!.initialFireCounts() };
    s.events.push(event.messageId);
    s.counts = trigger!.addHits(s.counts, trigger!.fireCriteriaHits(event));
    if (s.fire === null && trigger!.shouldFire(s.counts)) s.fire = event.timestamp.toSql(); // now = event time
    streams.set(key, s);
  }
  return [...streams.entries()].map(([key, s]) => ({ key, events: s.events.sort(), fire: s.fire })).sort((a, b) => a.key.localeCompare(b.key));
}

describe('yagi-worker streams (sandbox triggers, time sync)', () => {
  const day = DateTime.of(2015, 3, 10);
  const notifications = dayOfNotifications(day, 25, 21);

  it('builds one stream per instance per UTC day, the EOD .exists in day D, ready to fire at its arrival; shuffled arrival gives the same streams', async () => {
    const expected = expectedStreams(notifications);
    // Every instance has its day-D stream, holding its end-of-day .exists, ready to fire.
    const dayD = expected.filter((e) => e.key.endsWith(day.toSql()));
    expect(dayD).toHaveLength(25);
    for (const e of dayD) expect(e.fire).not.toBeNull();

    const inOrder = await runCells('in-order', [notifications]);
    const got = (await streamViews(inOrder)).map((s) => ({ key: `${s.instance} ${s.day}`, events: s.events, fire: s.fire }));
    expect(got).toEqual(expected);
    // The replay clock was posted for pipeline workers to follow.
    expect(postedTimes.length).toBeGreaterThan(0);
    expect(() => DateTime.parse(postedTimes.at(-1)!)).not.toThrow();
    await inOrder.close();

    const random = seededRandom(5);
    const shuffled = [...notifications].sort(() => random() - 0.5);
    const outOfOrder = await runCells('shuffled', [shuffled]);
    const got2 = (await streamViews(outOfOrder)).map((s) => ({ key: `${s.instance} ${s.day}`, events: s.events, fire: s.fire }));
    expect(got2).toEqual(expected);
    await outOfOrder.close();
  });

  it('two cells ingesting interleaved notifications for the same instances: one open stream per key, every event in exactly one stream', async () => {
    // Alternate each instance's notifications between the two cells.
    const cells: Notification[][] = [[], []];
    notifications.forEach((n, i) => cells[i % 2]!.push(n));
    const db = await runCells('two-cells', cells);
    const views = await streamViews(db);
    expect(views.map((s) => ({ key: `${s.instance} ${s.day}`, events: s.events }))).toEqual(expectedStreams(notifications).map(({ key, events }) => ({ key, events })));
    const [perKey] = await db.pool.query('SELECT name, distinguishing_key, SUM(open_key IS NOT NULL) AS open FROM stream GROUP BY name, distinguishing_key HAVING open > 1');
    expect(perKey).toEqual([]);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM (SELECT event_id FROM streamevent GROUP BY event_id HAVING COUNT(*) > 1) x')).toBe(0);
    await db.close();
  });

  it('SIGKILLed mid-batch again and again: every stored event is in its streams, exactly once', async () => {
    const db = await createTestDatabase(`${import.meta.url}#kill-loop`);
    const exchange = randomName('nova');
    const queue = randomName('notifications.info');
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, maxMessages: 20, winchesterExtra: `time_sync_endpoint: ${timeUrl}` });
    const all = [1, 2, 3].flatMap((d) => dayOfNotifications(DateTime.of(2015, 4, d), 40, 30 + d));
    let kills = 0;
    let published = false;
    const progress: number[] = [];
    try {
      // Kill it a dozen times while it works, then let one run finish the job.
      for (let round = 0; round < 12; round++) {
        const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
        await worker.ready();
        if (!published) {
          await publisher.publishAll(exchange, queue, all.map(encodeOsloV2));
          published = true;
        }
        // Kill it once it is storing again, a little later at a random point.
        const before = progress.at(-1) ?? 0;
        await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n > before, 30_000, 5);
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 30)));
        worker.kill('SIGKILL');
        await worker.exited();
        kills++;
        progress.push(await count(db.pool, 'SELECT COUNT(*) AS n FROM event'));
      }
      // It was killed while working: every round stored something, and it was never done.
      expect(progress.every((n, i) => i === 0 || n > progress[i - 1]!)).toBe(true);
      const atLastKill = await count(db.pool, 'SELECT COUNT(*) AS n FROM event');
      expect(atLastKill).toBeLessThan(all.length);
      const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
      await worker.ready();
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= all.length);
      worker.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
      expect(kills).toBe(12);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(all.length);
      // Every event the trigger takes is in exactly one stream, and the streams are the same as
      // an uninterrupted run would build.
      const views = await streamViews(db);
      expect(views.map((v) => ({ key: `${v.instance} ${v.day}`, events: v.events, fire: v.fire }))).toEqual(expectedStreams(all));
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM (SELECT event_id FROM streamevent GROUP BY event_id HAVING COUNT(*) > 1) x')).toBe(0);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM stream s WHERE s.event_count <> (SELECT COUNT(*) FROM streamevent se WHERE se.stream_id = s.id)')).toBe(0);
    } finally {
      await publisher.ch.deleteQueue(queue).catch(() => undefined);
      await publisher.ch.deleteExchange(exchange).catch(() => undefined);
      await db.close();
    }
  }, 120_000);
});
