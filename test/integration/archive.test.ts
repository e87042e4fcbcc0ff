/**
 * The raw archive (yagi.conf ShoeboxHandler, yagi-worker/archive.ts) with real processes:
 * 10,000 notifications, the yagi-worker SIGKILLed mid-stream and started again; afterwards every
 * archive file reads whole, holds every notification's body byte for byte, each once apart from
 * redeliveries (bounded by what was unacked at the kill), and `stv3 notigen --from-file <dir>`
 * into an empty database gives the same events. Also: a torn leftover file is cut back to its
 * complete batches at start, and poison is not archived.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { readNotificationFile } from '../../src/notigen/files.js';
import { archiveLine, completeGzipPrefix, RawArchive } from '../../src/yagi-worker/archive.js';
import { amqpUrl, Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, ROOT, startProcess } from '../helpers/processes.js';

const run = promisify(execFile);
let publisher: Publisher;
let dir: string;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  publisher = await Publisher.open();
  dir = mkdtempSync(join(tmpdir(), 'stv3-archive-'));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await publisher?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function cell(name: string, archive: string | null): Promise<{ db: TestDatabase; exchange: string; queue: string; yagiConf: string }> {
  const db = await createTestDatabase(`${import.meta.url}#${name}`);
  const exchange = randomName('nova');
  const queue = randomName('notifications.info');
  const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, cell: name });
  if (archive !== null) {
    const text = readFileSync(cfg.yagiConf, 'utf8').replace(
      'apps = winchester.yagi_handler.WinchesterHandler',
      'apps = winchester.yagi_handler.WinchesterHandler, yagi.handler.shoebox_handler.ShoeboxHandler',
    );
    writeFileSync(cfg.yagiConf, `${text}\n[shoebox]\nworking_directory = ${join(archive, 'work')}\ndestination_folder = ${join(archive, 'out')}\nroll_size_mb = 0.25\nroll_minutes = 1\n`);
  }
  cleanups.push(async () => {
    await publisher.ch.deleteQueue(queue).catch(() => undefined);
    await publisher.ch.deleteExchange(exchange).catch(() => undefined);
    await db.close();
  });
  return { db, exchange, queue, yagiConf: cfg.yagiConf };
}

interface EventRow {
  message_id: string;
  generated: string;
  type: string;
  traits: string;
}

async function events(db: TestDatabase): Promise<EventRow[]> {
  const [rows] = await db.pool.query('SELECT e.message_id, e.generated, t.`desc` AS type, e.traits FROM event e JOIN event_type t ON t.id = e.event_type_id ORDER BY e.message_id');
  return rows as EventRow[];
}

describe('raw archive', () => {
  it('SIGKILL mid-stream: every acked notification archived, files readable, replay gives the same events', async () => {
    const total = 10_000;
    const archive = join(dir, 'kill');
    const a = await cell('archived', archive);
    const notifications = makeNotifications(total, 21);
    const bodies = new Map(notifications.map((n) => [String(n['message_id']), encodeOsloV2(n)]));
    expect(bodies.size).toBe(total);

    let worker = startProcess('yagi-worker/main.js', ['--config', a.yagiConf]);
    await worker.ready();
    await publisher.publishAll(a.exchange, a.queue, bodies.values());
    await eventually(() => count(a.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n > 2500, 30_000, 20);
    worker.kill('SIGKILL');
    expect(await worker.exited()).toBeNull();
    expect(await count(a.db.pool, 'SELECT COUNT(*) AS n FROM event')).toBeLessThan(total);
    // What the killed worker was writing is still a .part file (unless it died just after a roll).
    const leftovers = readdirSync(join(archive, 'work', 'archived')).filter((n) => n.endsWith('.json.gz.part'));
    expect(leftovers.length).toBeLessThanOrEqual(1);

    worker = startProcess('yagi-worker/main.js', ['--config', a.yagiConf]);
    await worker.ready();
    // the leftover was rolled at start, under its own begin time
    for (const l of leftovers) expect(readdirSync(join(archive, 'out', 'archived')).some((n) => n.startsWith(l.replace('.json.gz.part', '_')))).toBe(true);
    await eventually(() => count(a.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= total, 45_000);
    // everything acked: the queue is empty (nothing left unacked)
    await eventually(async () => (await publisher.ch.checkQueue(a.queue)).messageCount, (n) => n === 0, 10_000);
    worker.kill('SIGTERM');
    expect(await worker.exited()).toBe(0);

    // No .part left after a graceful stop; rolled files named <cell>_<begin>_<end>.json.gz.
    expect(readdirSync(join(archive, 'work', 'archived')).filter((n) => n.endsWith('.part'))).toEqual([]);
    const out = join(archive, 'out', 'archived');
    const files = readdirSync(out).sort();
    expect(files.length).toBeGreaterThan(2); // rolled by size
    for (const f of files) expect(f).toMatch(/^archived_\d{8}T\d{6}\.\d{6}Z_\d{8}T\d{6}\.\d{6}Z\.json\.gz$/);

    // Every file reads whole (gunzip of all members), and with the replay reader.
    const seen = new Map<string, number>();
    let lines = 0;
    for (const f of files) {
      const text = gunzipSync(readFileSync(join(out, f))).toString('utf8');
      expect(text.endsWith('\n')).toBe(true);
      for (const line of text.slice(0, -1).split('\n')) {
        const id = String((JSON.parse((JSON.parse(line) as { 'oslo.message': string })['oslo.message']) as { message_id: string }).message_id);
        expect(line).toBe(bodies.get(id)); // the bytes as published
        seen.set(id, (seen.get(id) ?? 0) + 1);
        lines++;
      }
      let read = 0;
      for await (const m of readNotificationFile(join(out, f))) read += m.body.length > 0 ? 1 : 0;
      expect(read).toBe(text.slice(0, -1).split('\n').length);
    }
    expect(new Set(seen.keys())).toEqual(new Set(bodies.keys()));
    // Twice only for redeliveries: what was delivered but unacked at the kill (prefetch 1000).
    const twice = [...seen.values()].filter((n) => n > 1).length;
    expect([...seen.values()].every((n) => n <= 2)).toBe(true);
    expect(twice).toBeLessThanOrEqual(1000);
    expect(lines).toBe(total + twice);

    // Replay the archive directory into an empty database: the same events.
    const b = await cell('replayed', null);
    const replayWorker = startProcess('yagi-worker/main.js', ['--config', b.yagiConf]);
    await replayWorker.ready();
    const { stderr } = await run(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'notigen', '--from-file', out, '--cell', `replayed=${amqpUrl()}`, '--exchange', b.exchange, '--routing-key', b.queue], {
      cwd: ROOT,
      timeout: 60_000,
    });
    expect(stderr).not.toMatch(/error/i);
    await eventually(() => count(b.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= total, 45_000);
    replayWorker.kill('SIGTERM');
    expect(await replayWorker.exited()).toBe(0);
    const original = await events(a.db);
    expect(original).toHaveLength(total);
    expect(await events(b.db)).toEqual(original);
  });

  it('an archive that cannot be written holds the acks (retried, logged) and nothing is lost once it can', async () => {
    const archive = join(dir, 'fail');
    const c = await cell('failing', archive);
    writeFileSync(c.yagiConf, readFileSync(c.yagiConf, 'utf8').replace('roll_size_mb = 0.25', 'roll_size_mb = 0.02'));
    const notifications = makeNotifications(3500, 22).map(encodeOsloV2);
    const worker = startProcess('yagi-worker/main.js', ['--config', c.yagiConf]);
    try {
      await worker.ready();
      await publisher.publishAll(c.exchange, c.queue, notifications.slice(0, 500));
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= 500, 30_000);
      // The cell's working directory becomes a plain file: no new archive file can be opened.
      const work = join(archive, 'work', 'failing');
      renameSync(work, `${work}.moved`);
      writeFileSync(work, 'in the way');
      await publisher.publishAll(c.exchange, c.queue, notifications.slice(500));
      await worker.waitForLog((l) => String(l['msg']).startsWith('raw archive write failed'), 30_000);
      await new Promise((r) => setTimeout(r, 1500));
      // Nothing acked meanwhile: at most prefetch (1000) taken from the queue, the rest waits there.
      expect((await publisher.ch.checkQueue(c.queue)).messageCount).toBeGreaterThanOrEqual(1500);
      const stuck = await count(c.db.pool, 'SELECT COUNT(*) AS n FROM event');
      expect(stuck).toBeLessThan(3500);

      rmSync(work);
      renameSync(`${work}.moved`, work);
      await eventually(() => count(c.db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n >= 3500, 45_000);
      await eventually(async () => (await publisher.ch.checkQueue(c.queue)).messageCount, (n) => n === 0, 10_000);
      worker.kill('SIGTERM');
      expect(await worker.exited()).toBe(0);
      const out = join(archive, 'out', 'failing');
      const ids = new Set<string>();
      for (const f of readdirSync(out)) {
        for await (const m of readNotificationFile(join(out, f))) ids.add(String((JSON.parse((JSON.parse(m.body) as { 'oslo.message': string })['oslo.message']) as { message_id: string }).message_id));
      }
      expect(ids.size).toBe(3500);
      expect(readdirSync(work).filter((n) => n.endsWith('.part'))).toEqual([]);
    } finally {
      worker.kill('SIGKILL');
    }
  });

  it('a torn leftover file is cut back to its complete batches and rolled at start; poison is not archived', () => {
    const root = join(dir, 'torn');
    const log = pino({ level: 'silent' });
    const config = { workingDirectory: join(root, 'work'), destinationFolder: join(root, 'out'), rollSizeBytes: 1 << 20, rollMinutes: 60, queues: new Set(['q']) };
    const work = join(root, 'work', 'c1');
    mkdirSync(work, { recursive: true });
    const part = join(work, 'c1_20261201T010203.000004Z.json.gz.part');
    const one = gzipSync('{"event_type":"a","message_id":"1"}\n');
    const two = gzipSync('{"event_type":"a","message_id":"2"}\n{"event_type":"a","message_id":"3"}\n');
    const three = gzipSync('{"event_type":"a","message_id":"4"}\n');
    writeFileSync(part, one);
    appendFileSync(part, two);
    appendFileSync(part, three.subarray(0, three.length - 5)); // torn by a crash
    expect(completeGzipPrefix(readFileSync(part))).toBe(one.length + two.length);

    const archive = new RawArchive(config, 'c1', log);
    archive.start();
    expect(existsSync(part)).toBe(false);
    const [rolled, ...others] = readdirSync(join(root, 'out', 'c1'));
    expect(others).toEqual([]);
    expect(rolled).toMatch(/^c1_20261201T010203\.000004Z_\d{8}T\d{6}\.\d{6}Z\.json\.gz$/);
    expect(gunzipSync(readFileSync(join(root, 'out', 'c1', rolled!))).toString()).toBe('{"event_type":"a","message_id":"1"}\n{"event_type":"a","message_id":"2"}\n{"event_type":"a","message_id":"3"}\n');

    // Poison and other queues' bodies are left out; a body with line breaks becomes one line.
    archive.append([
      { queue: 'q', body: Buffer.from('not json') },
      { queue: 'other', body: Buffer.from('{"event_type":"b","message_id":"5"}') },
      { queue: 'q', body: Buffer.from('{"event_type":"b",\r\n "message_id":"6"}') },
    ]);
    archive.close();
    const files = readdirSync(join(root, 'out', 'c1')).sort();
    expect(files).toHaveLength(2);
    expect(gunzipSync(readFileSync(join(root, 'out', 'c1', files[1]!))).toString()).toBe('{"event_type":"b",  "message_id":"6"}\n');
    expect(archiveLine({ queue: 'q', body: Buffer.from('{"event_type":"b","message_id":"7"}') })?.toString()).toBe('{"event_type":"b","message_id":"7"}');
  });
});
