/**
 * notigen publishing to a real RabbitMQ (AMQP_URL): exactly what was confirmed is in the
 * queues, in order, with oslo's properties and topology; two cells keep each instance on one
 * cell; the rate cap holds; SIGINT stops after the confirms; --time-sync posts the replay time.
 * Every exchange and queue name is random and deleted afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTimeSyncServer } from '../../src/cli/time-sync-server.js';
import { decodeNotification } from '../../src/shared/amqp/oslo.js';
import { DateTime } from '../../src/shared/time.js';
import { asOutgoing, createGenerator, publishNotifications, readNotificationFile, type GeneratedNotification, type OutgoingNotification } from '../../src/notigen/index.js';
import { amqpUrl, randomName } from '../helpers/amqp.js';
import { TEMPLATES } from '../helpers/notifications.js';
import { ROOT } from '../helpers/processes.js';
import { notigen } from '../helpers/notigen.js';

const dir = mkdtempSync(join(tmpdir(), 'notigen-publish-'));
const FIXED = ['--seed', '11', '--start', '2015-03-01 00:00:00'];
let conn: ChannelModel;
let ch: Channel;
const exchanges = new Set<string>();
const queues = new Set<string>();

beforeAll(async () => {
  conn = await connect(amqpUrl());
  ch = await conn.createChannel();
});

afterAll(async () => {
  // each on its own channel: one failure must not leave the others behind
  for (const q of queues) await onChannel((c) => c.deleteQueue(q));
  for (const x of exchanges) await onChannel((c) => c.deleteExchange(x));
  await conn.close();
});

/** Runs `work` on a throwaway channel (a failed check or declare closes its channel); undefined if it failed. */
async function onChannel<T>(work: (c: Channel) => Promise<T>): Promise<T | undefined> {
  const c = await conn.createChannel();
  c.on('error', () => undefined);
  try {
    return await work(c);
  } catch {
    return undefined;
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** A random exchange and topic; their queues (<topic>.info, <topic>.error) are deleted at the end. */
function names(): { exchange: string; topic: string; info: string; error: string } {
  const exchange = randomName('notigen-x');
  const topic = randomName('notigen-t');
  exchanges.add(exchange);
  queues.add(`${topic}.info`).add(`${topic}.error`);
  return { exchange, topic, info: `${topic}.info`, error: `${topic}.error` };
}

/** Takes every message now in `queue` (it must hold `count`), in order, acking them. */
async function drain(queue: string, count: number): Promise<ConsumeMessage[]> {
  const got: ConsumeMessage[] = [];
  if (count === 0) return got;
  const channel = await conn.createChannel();
  await channel.prefetch(500);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${queue}: ${got.length} of ${count} messages`)), 20_000);
    void channel.consume(queue, (m) => {
      if (!m) return;
      got.push(m);
      channel.ack(m);
      if (got.length === count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await channel.close();
  const { messageCount } = await ch.checkQueue(queue);
  expect(messageCount).toBe(0);
  return got;
}

const priorityOf = (line: string): string => String(decodeNotification(line)['priority']).toLowerCase();

describe('notigen --from-file into RabbitMQ', () => {
  let file: string;
  let lines: string[];

  beforeAll(async () => {
    file = join(dir, 'thousand.jsonl');
    const r = await notigen([...FIXED, '--count', '1000', '--to-file', file]);
    expect(r.code, r.stderr).toBe(0);
    lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(1000);
  });

  it.each([['plain', 'thousand.jsonl'], ['gzip', 'thousand.jsonl.gz']])('%s: publishes exactly the 1,000 lines, confirmed, in file order, as oslo does', async (_kind, name) => {
    const path = join(dir, name);
    if (name.endsWith('.gz')) expect((await notigen([...FIXED, '--count', '1000', '--to-file', path])).code).toBe(0);
    const n = names();
    const r = await notigen(['--from-file', path, '--exchange', n.exchange, '--topic', n.topic]);
    expect(r.code, r.stderr).toBe(0);
    const errors = lines.filter((l) => priorityOf(l) === 'error');
    const infos = lines.filter((l) => priorityOf(l) === 'info');
    expect(errors.length).toBeGreaterThan(0);
    expect(infos.length + errors.length).toBe(1000);
    expect(r.stdout).toContain(`notigen: 1000 notifications confirmed (1000 published) to cell local amqp://guest:***@`);
    expect(r.stdout).toContain(`(${n.info} ${infos.length}, ${n.error} ${errors.length})`);
    const gotInfo = await drain(n.info, infos.length);
    const gotError = await drain(n.error, errors.length);
    expect(gotInfo.map((m) => m.content.toString('utf8'))).toEqual(infos);
    expect(gotError.map((m) => m.content.toString('utf8'))).toEqual(errors);
    for (const m of [...gotInfo, ...gotError]) {
      expect(m.fields.exchange).toBe(n.exchange);
      expect(m.properties).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 });
    }
    expect(gotInfo[0]!.fields.routingKey).toBe(n.info);
    // Declared as oslo declares them: not durable (a durable re-declare is refused with 406).
    const refusal = async (declare: (c: Channel) => Promise<unknown>): Promise<unknown> => onChannel((c) => declare(c).then(() => 'accepted', (err: { code?: number }) => err.code));
    expect(await refusal((c) => c.assertQueue(n.info, { durable: true }))).toBe(406);
    expect(await refusal((c) => c.assertExchange(n.exchange, 'topic', { durable: true }))).toBe(406);
  });

  it('--routing-key sends everything to one queue; --count stops early', async () => {
    const n = names();
    const single = `${n.topic}.all`;
    queues.add(single);
    const r = await notigen(['--from-file', file, '--exchange', n.exchange, '--routing-key', single, '--count', '250']);
    expect(r.code, r.stderr).toBe(0);
    const got = await drain(single, 250);
    expect(got.map((m) => m.content.toString('utf8'))).toEqual(lines.slice(0, 250));
  });

  it('--time-sync posts the latest confirmed notification time to <url>/time', async () => {
    const server = createTimeSyncServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const n = names();
      const r = await notigen(['--from-file', file, '--exchange', n.exchange, '--topic', n.topic, '--time-sync', url]);
      expect(r.code, r.stderr).toBe(0);
      const last = lines.map((l) => DateTime.parse(String(decodeNotification(l)['timestamp']))).reduce((a, b) => (b.isAfter(a) ? b : a));
      expect(await (await fetch(`${url}/time`)).text()).toBe(last.toString());
    } finally {
      server.close();
    }
  });
});

describe('notigen publishing (library)', () => {
  it('two cells: each instance’s notifications reach its own cell’s broker only', async () => {
    const topic = randomName('notigen-t');
    queues.add(`${topic}.info`).add(`${topic}.error`);
    const cells = ['east', 'west'].map((name) => ({ name, url: amqpUrl(), exchange: randomName(`notigen-${name}`) }));
    const cellQueue = new Map<string, string>();
    for (const cell of cells) {
      exchanges.add(cell.exchange);
      const q = randomName(`notigen-${cell.name}-q`);
      queues.add(q);
      cellQueue.set(cell.name, q);
      await ch.assertExchange(cell.exchange, 'topic', { durable: false });
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, cell.exchange, '#');
    }
    const generated: GeneratedNotification[] = [...createGenerator({ templates: TEMPLATES, seed: 5, start: DateTime.of(2015, 3, 1), count: 1500, cells: ['east', 'west'], instances: 20 })];
    const summary = await publishNotifications(cells, asOutgoing(generated), { topic });
    expect(summary).toMatchObject({ published: 1500, confirmed: 1500, aborted: false });
    const expectedCell = new Map<string, string>();
    for (const g of generated) {
      const id = (g.notification['payload'] as Record<string, unknown> | undefined)?.['instance_id'];
      if (typeof id === 'string') expectedCell.set(id, g.cell);
    }
    const seenIn = new Map<string, Set<string>>();
    for (const cell of cells) {
      const got = await drain(cellQueue.get(cell.name)!, summary.byCell[cell.name]!);
      expect(got.length).toBeGreaterThan(300);
      for (const m of got) {
        const id = (decodeNotification(m.content)['payload'] as Record<string, unknown> | undefined)?.['instance_id'];
        if (typeof id !== 'string') continue;
        seenIn.set(id, (seenIn.get(id) ?? new Set()).add(cell.name));
      }
    }
    expect(seenIn.size).toBeGreaterThan(20);
    for (const [id, where] of seenIn) expect([...where]).toEqual([expectedCell.get(id)]);
  });

  it('rate: 300 notifications at 150/s take at least 299/150 s', async () => {
    const n = names();
    async function* first300(): AsyncGenerator<OutgoingNotification> {
      let i = 0;
      for await (const m of readNotificationFile(join(dir, 'thousand.jsonl'))) {
        if (i++ === 300) return;
        yield m;
      }
    }
    const t0 = performance.now();
    const summary = await publishNotifications([{ name: 'local', url: amqpUrl() }], first300(), { exchange: n.exchange, topic: n.topic, routingKey: n.info, rate: 150 });
    expect(summary).toMatchObject({ published: 300, confirmed: 300 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual((299 / 150) * 1000 - 20);
    await drain(n.info, 300);
  });
});

describe('stv3 notigen: SIGINT', () => {
  it('stops taking notifications, waits for the confirms, prints the summary and exits 0; the queues hold exactly what it counted', async () => {
    const n = names();
    const child = spawn(process.execPath, [`${ROOT}dist/cli/main.js`, 'notigen', ...FIXED, '--rate', '200', '--count', '100000', '--exchange', n.exchange, '--topic', n.topic], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // wait until it has published a hundred (a check of a queue not yet declared closes its channel)
    for (let i = 0; i < 200; i++) {
      const messageCount = (await onChannel((c) => c.checkQueue(n.info)))?.messageCount ?? 0;
      if (messageCount > 100) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toContain('notigen: stopping');
    const m = /stopped by SIGINT: (\d+) notifications confirmed \((\d+) published\)/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const confirmed = Number(m![1]);
    expect(Number(m![2])).toBe(confirmed);
    expect(confirmed).toBeGreaterThan(100);
    expect(confirmed).toBeLessThan(100_000);
    const info = (await ch.checkQueue(n.info)).messageCount;
    const error = (await onChannel((c) => c.checkQueue(n.error)))?.messageCount ?? 0; // declared with its first ERROR notification
    expect(info + error).toBe(confirmed);
  });
});
