/**
 * Retention benchmark (issue 14): does a trim move ingest? A database is seeded with
 * `--seed-count` old events (default 1,000,000, each with one indexed trait row, all past the
 * 14-day default age) by INSERT … SELECT doubling, then a yagi-worker (the built dist/ process)
 * ingests `--count` notifications twice from a pre-filled queue: once alone, once while
 * `stv3 trim` (a separate process, as from cron) deletes the old events with the given
 * --batch-size and --pause-ms. Prints both ingest rates, their ratio, and the trim's own rate.
 *
 *   npm run build && npx tsx bench/trim.ts [--seed-count 1000000] [--count 20000] [--batch-size 1000] [--pause-ms 50]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Pool } from 'mysql2/promise';
import { decodeNotification, encodeOsloV2 } from '../src/shared/amqp/oslo.js';
import { Distiller } from '../src/shared/distiller/index.js';
import { generateNotifications, loadTemplates, seededRandom } from '../src/notigen/templates.js';
import { DateTime } from '../src/shared/time.js';
import { AMQP, dbUrl, fillQueue, freshDatabase } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SANDBOX = join(ROOT, 'fixtures/stacktach-upstream/sandbox');
const DB = 'stv3_bench_trim';

const { values: args } = parseArgs({
  options: {
    'seed-count': { type: 'string', default: '1000000' },
    count: { type: 'string', default: '20000' },
    'batch-size': { type: 'string', default: '1000' },
    'pause-ms': { type: 'string', default: '50' },
  },
});
const SEED = Number(args['seed-count']);
const COUNT = Number(args.count);

async function scalar(pool: Pool, sql: string): Promise<number> {
  const [rows] = await pool.query(sql);
  return Number(Object.values((rows as Record<string, unknown>[])[0]!)[0]);
}

/** SEED events 30 to 60 days old, four types, one trait row each: doubling from 1,000. */
async function seed(pool: Pool): Promise<number> {
  const started = performance.now();
  await pool.query("INSERT INTO event_type (`desc`) VALUES ('compute.instance.update'), ('compute.instance.exists'), ('compute.instance.create.end'), ('image.upload')");
  const [types] = await pool.query('SELECT id FROM event_type ORDER BY id');
  const ids = (types as { id: number }[]).map((r) => r.id);
  const first = Array.from({ length: Math.min(1000, SEED) }, (_, i) => [
    `seed-0-${i}`,
    DateTime.now().plusSeconds(-30 * 86_400 - ((i * 2593) % (30 * 86_400))).toSql(),
    ids[i % ids.length]!,
    '{"instance_id":"i-seed"}',
  ]);
  await pool.query('INSERT INTO event (message_id, generated, event_type_id, traits) VALUES ?', [first]);
  for (let round = 1; ; round++) {
    const have = await scalar(pool, 'SELECT COUNT(*) FROM event');
    if (have >= SEED) break;
    await pool.query(
      `INSERT INTO event (message_id, generated, event_type_id, traits)
       SELECT CONCAT('seed-', ?, '-', id), generated - INTERVAL (id % 1000) SECOND, event_type_id, traits FROM event ORDER BY id LIMIT ?`,
      [round, SEED - have],
    );
  }
  await pool.query("INSERT INTO trait (event_id, name, type, t_string) SELECT id, 'instance_id', 1, 'i-seed' FROM event");
  return (performance.now() - started) / 1000;
}

function waitReady(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
}

/** Ingest rate of a fresh worker over `bodies` (the queue filled first). */
async function ingest(pool: Pool, dir: string, queue: string, bodies: readonly string[], storedBefore: number, expected: number): Promise<number> {
  await fillQueue(queue, bodies);
  const broker = new URL(AMQP);
  const conf = join(dir, `yagi-${queue}.conf`);
  writeFileSync(
    conf,
    `[rabbit_broker]\nhost = ${broker.hostname}\nport = ${broker.port || 5672}\nuser = guest\npassword = guest\n[consumers]\nqueues = ${queue}\n[consumer:${queue}]\napps = winchester.yagi_handler.WinchesterHandler\nexchange = bench\nexchange_type = topic\nrouting_key = ${queue}\nmax_messages = 100\n[winchester]\nconfig_file = ${join(dir, 'winchester.yaml')}\n`,
  );
  const child = spawn(process.execPath, [join(ROOT, 'dist/yagi-worker/main.js'), '--config', conf, '--no-migrate'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, STV3_LOG_LEVEL: 'warn' } });
  await waitReady(child);
  const started = performance.now();
  // Counted through ingest_cell (one small row), not COUNT(*) of a table being trimmed.
  while ((await scalar(pool, 'SELECT COALESCE(SUM(events_stored), 0) FROM ingest_cell')) - storedBefore < expected) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - started) / 1000;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return bodies.length / seconds;
}

async function main(): Promise<void> {
  const pool = await freshDatabase(DB);
  const seedSeconds = await seed(pool);
  const seeded = await scalar(pool, 'SELECT COUNT(*) FROM event');
  console.log(`seeded ${seeded} old events (and ${seeded} trait rows) in ${seedSeconds.toFixed(1)} s`);

  const dir = mkdtempSync(join(tmpdir(), 'stv3-bench-trim-'));
  const winchester = join(dir, 'winchester.yaml');
  writeFileSync(winchester, `config_path: [${SANDBOX}]\ndatabase:\n  url: ${dbUrl(DB)}\ndistiller_config: event_definitions.yaml\nstatistics_period: 60\ntrim_events_age: '$timestamp - 14d'\n`);

  const templates = loadTemplates(join(ROOT, 'fixtures/stacktach-upstream/notigen-templates'));
  const all = generateNotifications(templates, 2 * COUNT, seededRandom(7), DateTime.now().plusSeconds(-COUNT * 6), 30).map(encodeOsloV2);
  const halfA = all.slice(0, COUNT);
  const halfB = all.slice(COUNT);

  const rateAlone = await ingestCounting(pool, dir, 'bench.trim.a', halfA);

  const trim = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'trim', '--config', winchester, '--batch-size', String(args['batch-size']), '--pause-ms', String(args['pause-ms']), '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let trimOut = '';
  trim.stdout!.on('data', (c: Buffer) => (trimOut += c.toString()));
  const oldBefore = await scalar(pool, "SELECT COUNT(*) FROM event WHERE message_id LIKE 'seed-%'");
  await new Promise((r) => setTimeout(r, 1000)); // the trim is under way
  const trimStarted = performance.now();
  const oldAtStart = await scalar(pool, "SELECT COUNT(*) FROM event WHERE message_id LIKE 'seed-%'");
  const rateTrimming = await ingestCounting(pool, dir, 'bench.trim.b', halfB);
  const trimSeconds = (performance.now() - trimStarted) / 1000;
  const oldAtEnd = await scalar(pool, "SELECT COUNT(*) FROM event WHERE message_id LIKE 'seed-%'");
  const trimStillRunning = trim.exitCode === null;
  trim.kill('SIGTERM');
  await new Promise((r) => (trim.exitCode !== null ? r(null) : trim.once('exit', r)));

  console.log(`ingest alone:            ${Math.round(rateAlone)} notifications/s (${COUNT} notifications)`);
  console.log(`ingest while trimming:   ${Math.round(rateTrimming)} notifications/s (${COUNT} notifications)`);
  console.log(`ratio trimming / alone:  ${(rateTrimming / rateAlone).toFixed(2)}`);
  console.log(`trim meanwhile:          ${oldAtStart - oldAtEnd} events deleted in ${trimSeconds.toFixed(1)} s (${Math.round((oldAtStart - oldAtEnd) / trimSeconds)} events/s; batch ${args['batch-size']}, pause ${args['pause-ms']} ms; ${oldBefore - oldAtEnd} in all; ${trimStillRunning ? 'still running at the end' : `finished: ${trimOut.trim().slice(0, 200)}`})`);
  await pool.end();
}

/** One phase: the worker is done when its ingest_cell total reaches what the definitions store of `bodies`. */
let storedSoFar = 0;
async function ingestCounting(pool: Pool, dir: string, queue: string, bodies: readonly string[]): Promise<number> {
  const expected = await expectedStored(bodies);
  const rate = await ingest(pool, dir, queue, bodies, storedSoFar, expected);
  storedSoFar += expected;
  return rate;
}

/** How many of `bodies` the sandbox event definitions store (the others have no definition). */
async function expectedStored(bodies: readonly string[]): Promise<number> {
  const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
  let n = 0;
  for (const b of bodies) if (distiller.distill(decodeNotification(b), DateTime.now())) n++;
  return n;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
