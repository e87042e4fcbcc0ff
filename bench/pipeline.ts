/**
 * Pipeline benchmark, against the local MariaDB and RabbitMQ, with the built dist/ workers.
 *
 *   npm run build && npx tsx bench/pipeline.ts [--streams 20000] [--latency-seconds 30] [--skip-serial] [--json]
 *
 * 1. Throughput: 20,000 streams ready to fire, about 9 events each, built from notigen
 *    lifecycles through the upstream sandbox definitions and triggers (one stream per instance
 *    per day, made ready by its end-of-day .exists). The logger + usage pipeline runs with 1
 *    worker, then 2 (skip_locked claims), then 2 with upstream's serial-number claims, each on
 *    its own copy of the same data. Prints streams/s and the ratios.
 * 2. Fire latency under a steady ingest load: a yagi-worker and 2 pipeline workers; lifecycles
 *    of today are published steadily and each instance's end-of-day .exists a few seconds after;
 *    latency = when the stream was seen completed − its fire_timestamp (polled every 20 ms).
 *
 * `--json`: the human lines go to stderr, and stdout gets one JSON object (PipelineResult) for
 * bench/suite.ts. The seeding progress stays on one line (`\r`) on a terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'amqplib';
import type { Pool } from 'mysql2/promise';
import { encodeOsloV2, type Notification } from '../src/shared/amqp/oslo.js';
import { parseDatabaseUrl } from '../src/shared/config/database-url.js';
import { EventTypeIds } from '../src/shared/store/events.js';
import { createDbPool } from '../src/shared/db/pool.js';
import { withTransaction } from '../src/shared/db/sql.js';
import { Distiller } from '../src/shared/distiller/index.js';
import { prepareEvent, storeEvents, type PreparedEvent } from '../src/shared/store/batch.js';
import { DateTime } from '../src/shared/time.js';
import { loadTriggerDefinitions } from '../src/shared/triggers/index.js';
import { instantiate, loadTemplates, seededRandom, type Template } from '../src/notigen/templates.js';
import { admin, AMQP, cpuSeconds, dbUrl, freshDatabase, pidOf } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const UPSTREAM = join(ROOT, 'fixtures/stacktach-upstream');
const SANDBOX = join(UPSTREAM, 'sandbox');
const TABLES = ['event_type', 'event', 'trait', 'stream', 'dist_trait', 'streamevent', 'quarantine', 'stv3_schema_migrations'];

const { values: args } = parseArgs({
  options: { streams: { type: 'string', default: '20000' }, 'latency-seconds': { type: 'string', default: '30' }, 'skip-serial': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
});
const STREAMS = Number(args.streams);
// With --json the human lines go to stderr; stdout carries the JSON result only.
const human = args.json ? process.stderr : process.stdout;
const say = (line: string): void => void human.write(`${line}\n`);

/** One throughput run: streams/s, CPU µs per stream (the workers together, MariaDB), the workers' largest peak RSS. */
export interface Throughput {
  readonly rate: number;
  readonly cpuUsPerStream: { readonly workers: number; readonly mariadb: number };
  readonly workerPeakRssMb: number;
}

/** What `--json` prints. Latencies in ms (null when no stream completed in the latency run). */
export interface PipelineResult {
  readonly streams: number;
  readonly one: Throughput;
  readonly two: Throughput;
  readonly serial: Throughput | null;
  readonly fireLatencyMs: { readonly p50: number | null; readonly p99: number | null; readonly samples: number };
}

function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

async function copyDatabase(from: string, to: string): Promise<Pool> {
  await admin(`DROP DATABASE IF EXISTS \`${to}\`; CREATE DATABASE \`${to}\`; SET FOREIGN_KEY_CHECKS = 0; ${TABLES.map((t) => `CREATE TABLE \`${to}\`.${t} LIKE \`${from}\`.${t}; INSERT INTO \`${to}\`.${t} SELECT * FROM \`${from}\`.${t};`).join(' ')}`);
  return createDbPool(parseDatabaseUrl(dbUrl(to)), { connectionLimit: 2 });
}

/** An instance's day: a create lifecycle yesterday (events of that day only) and its EOD .exists. */
function instanceDay(templates: { create: Template; eod: Template }, day: DateTime, offsetSeconds: number, random: () => number, eodAt: DateTime): Notification[] {
  const lifecycle = instantiate(templates.create, day.plusSeconds(offsetSeconds), random).filter((n) => DateTime.parse(String(n['timestamp'])).startOfDay().equals(day));
  const payload = lifecycle[0]!['payload'] as Record<string, unknown>;
  const eod = instantiate(templates.eod, eodAt, random, {
    payload: { instance_id: payload['instance_id'], audit_period_beginning: day.toString(), audit_period_ending: day.plusSeconds(86_400).toString(), launched_at: payload['launched_at'], state: 'active', deleted_at: '' },
  });
  return [...lifecycle, ...eod];
}

async function seed(pool: Pool, distiller: Distiller, templates: { create: Template; eod: Template }): Promise<number> {
  const triggers = loadTriggerDefinitions(join(SANDBOX, 'triggers.yaml'));
  const types = new EventTypeIds(pool);
  const random = seededRandom(7);
  const yesterday = DateTime.now().startOfDay().plusSeconds(-86_400);
  let events = 0;
  for (let i = 0; i < STREAMS; i += 500) {
    const batch: PreparedEvent[] = [];
    for (let k = i; k < Math.min(STREAMS, i + 500); k++) {
      for (const n of instanceDay(templates, yesterday, 60 + (k % 80_000), random, DateTime.now().plusSeconds(-60))) {
        const e = distiller.distill(n, DateTime.now());
        if (e) batch.push(prepareEvent(triggers, e, DateTime.now()));
      }
    }
    const typeIds = await types.resolve(batch.map((p) => p.event.eventType));
    await withTransaction(pool, (conn) => storeEvents(conn, batch, typeIds, new Set(['instance_id', 'tenant_id', 'request_id', 'user_id'])));
    events += batch.length;
    const done = Math.min(STREAMS, i + 500);
    // One line rewritten in place on a terminal; elsewhere a line every 5,000 streams and the last.
    if (human.isTTY) human.write(`\rseeding: ${done}/${STREAMS} streams`);
    else if (done % 5000 === 0 || done === STREAMS) say(`seeding: ${done}/${STREAMS} streams`);
  }
  if (human.isTTY) human.write('\n');
  return events;
}

function writeWinchester(db: string, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-bench-pipe-'));
  writeFileSync(join(dir, 'pipelines.yaml'), 'test_fire_pipeline: [logger, usage]\ntest_expire_pipeline: [logger, usage]\n');
  const file = join(dir, 'winchester.yaml');
  writeFileSync(
    file,
    `config_path: [${dir}, ${SANDBOX}]\ndatabase:\n  url: ${dbUrl(db)}\ndistiller_config: event_definitions.yaml\ntrigger_definitions: triggers.yaml\npipeline_config: pipelines.yaml\npurge_completed_streams: false\nstatistics_period: 60\npipeline_handlers:\n  logger: winchester.pipeline_handler:LoggingHandler\n  usage: winchester.pipeline_handler:UsageHandler\n${extra}\n`,
  );
  return file;
}

function startWorker(script: string, configArgs: string[]): Promise<ChildProcess> {
  const profile = process.env['BENCH_PROFILE'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  const child = spawn(process.execPath, [...profile, ...(process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean), join(ROOT, 'dist', script), ...configArgs], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, STV3_LOG_LEVEL: 'warn' } });
  return new Promise((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve(child));
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise((r) => (c.kill('SIGTERM'), c.once('exit', r)))));
}

async function completed(pool: Pool): Promise<number> {
  const [rows] = await pool.query('SELECT COUNT(*) AS n FROM stream WHERE state = 6');
  return (rows as { n: number }[])[0]!.n;
}

async function throughput(source: string, workers: number, strategy: string): Promise<Throughput> {
  const name = `stv3_bench_pipe_${workers}_${strategy}`;
  const pool = await copyDatabase(source, name);
  const ready = ((await pool.query('SELECT COUNT(*) AS n FROM stream WHERE state = 1 AND fire_timestamp IS NOT NULL'))[0] as { n: number }[])[0]!.n;
  const config = writeWinchester(name, `pipeline_claim_strategy: ${strategy}\npipeline_worker_batch_size: 1000`);
  const children = await Promise.all(Array.from({ length: workers }, (_, i) => startWorker('pipeline-worker/main.js', ['--config', config, '--name', `bench${i}`, '--no-migrate'])));
  const mariadb = pidOf('mariadbd')!;
  const cpu0 = [...children.map((c) => cpuSeconds(c.pid!)), cpuSeconds(mariadb)];
  const started = performance.now();
  while ((await completed(pool)) < ready) await new Promise((r) => setTimeout(r, 50));
  const rate = ready / ((performance.now() - started) / 1000);
  const cpu1 = [...children.map((c) => cpuSeconds(c.pid!)), cpuSeconds(mariadb)];
  const perStream = cpu1.map((c, i) => Math.round(((c - cpu0[i]!) / ready) * 1e6));
  const rss = Math.max(...children.map((c) => peakRssMb(c.pid!)));
  say(`  CPU µs per stream: workers ${perStream.slice(0, -1).join(' + ')}, mariadb ${perStream.at(-1)}; workers' peak RSS ${Math.round(rss)} MB`);
  await stop(children);
  await pool.end();
  return { rate, cpuUsPerStream: { workers: perStream.slice(0, -1).reduce((a, b) => a + b, 0), mariadb: perStream.at(-1)! }, workerPeakRssMb: rss };
}


async function latency(distiller: Distiller, templates: { create: Template; eod: Template }): Promise<number[]> {
  const name = 'stv3_bench_latency';
  const pool = await freshDatabase(name);
  const config = writeWinchester(name);
  const queue = 'bench.latency';
  const broker = new URL(AMQP);
  const yagiConf = join(mkdtempSync(join(tmpdir(), 'stv3-bench-yagi-')), 'yagi-bench.conf');
  writeFileSync(yagiConf, `[rabbit_broker]\nhost = ${broker.hostname}\nport = ${broker.port || 5672}\n[consumers]\nqueues = ${queue}\n[consumer:${queue}]\napps = winchester.yagi_handler.WinchesterHandler\nexchange = bench\nexchange_type = topic\nrouting_key = ${queue}\nmax_messages = 100\n[winchester]\nconfig_file = ${config}\n`);
  const children = [await startWorker('yagi-worker/main.js', ['--config', yagiConf, '--no-migrate'])];
  children.push(...(await Promise.all([0, 1].map((i) => startWorker('pipeline-worker/main.js', ['--config', config, '--name', `lat${i}`, '--no-migrate'])))));
  const conn = await connect(AMQP);
  const ch = await conn.createChannel();
  const random = seededRandom(99);
  const today = DateTime.now().startOfDay();
  const seconds = Number(args['latency-seconds']);
  const latencies: number[] = [];
  const seen = new Set<number>();
  const pending: { at: number; bodies: string[] }[] = [];
  let published = 0;
  const end = Date.now() + seconds * 1000;
  let lastPoll = 0;
  while (Date.now() < end || pending.length > 0) {
    if (Date.now() < end) {
      // ~50 lifecycles a second; each instance's .exists goes out 3 s after its lifecycle.
      const [lifecycle, eod] = splitEod(instanceDay(templates, today, 60 + Math.floor(random() * 3600), random, DateTime.now()));
      for (const b of lifecycle.map(encodeOsloV2)) ch.publish('bench', queue, Buffer.from(b));
      pending.push({ at: Date.now() + 3000, bodies: eod.map(encodeOsloV2) });
      published += lifecycle.length + eod.length;
    }
    while (pending[0] && pending[0].at <= Date.now()) for (const b of pending.shift()!.bodies) ch.publish('bench', queue, Buffer.from(b));
    if (Date.now() - lastPoll >= 20) {
      lastPoll = Date.now();
      const [rows] = await pool.query('SELECT id, fire_timestamp FROM stream WHERE state = 6 AND fire_timestamp IS NOT NULL');
      const now = DateTime.now();
      for (const r of rows as { id: number; fire_timestamp: string }[]) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        latencies.push(now.diffMicros(DateTime.parse(r.fire_timestamp)) / 1000);
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 3000));
  await conn.close();
  await stop(children);
  await pool.end();
  void distiller;
  say(`latency run: published ${published} notifications in ${seconds} s (${Math.round(published / seconds)}/s)`);
  return latencies.sort((a, b) => a - b);
}

function splitEod(notifications: Notification[]): [Notification[], Notification[]] {
  return [notifications.filter((n) => n['event_type'] !== 'compute.instance.exists'), notifications.filter((n) => n['event_type'] === 'compute.instance.exists')];
}

async function main(): Promise<void> {
  const all = loadTemplates(join(UPSTREAM, 'notigen-templates'));
  const templates = { create: all.find((t) => t.name === 'compute.instance.snapshot.start_8')!, eod: all.find((t) => t.name === 'eod_exists')! };
  const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });

  const source = 'stv3_bench_pipe_source';
  const pool = await freshDatabase(source);
  const events = await seed(pool, distiller, templates);
  const ready = ((await pool.query('SELECT COUNT(*) AS n, AVG(event_count) AS avg FROM stream WHERE fire_timestamp IS NOT NULL'))[0] as { n: number; avg: string }[])[0]!;
  await pool.end();
  say(`${ready.n} streams ready to fire, ${Number(ready.avg).toFixed(1)} events each on average (${events} events), pipeline logger + usage`);

  const two = await throughput(source, 2, 'skip_locked');
  const one = await throughput(source, 1, 'skip_locked');
  say(`1 worker  (skip_locked): ${Math.round(one.rate)} streams/s`);
  say(`2 workers (skip_locked): ${Math.round(two.rate)} streams/s   ratio 2/1: ${(two.rate / one.rate).toFixed(2)}`);
  const serial = args['skip-serial'] ? null : await throughput(source, 2, 'serial');
  if (serial) say(`2 workers (serial):      ${Math.round(serial.rate)} streams/s   ratio serial/skip_locked: ${(serial.rate / two.rate).toFixed(2)}`);

  const lat = await latency(distiller, templates);
  const at = (p: number): number | null => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]! : null);
  const pct = (p: number): string => (at(p) === null ? 'n/a' : `${Math.round(at(p)!)} ms`);
  say(`fire latency under steady ingest (${lat.length} streams): p50 ${pct(50)}, p99 ${pct(99)}, max ${pct(100)}`);
  if (args.json) {
    const result: PipelineResult = { streams: Number(ready.n), one, two, serial, fireLatencyMs: { p50: at(50), p99: at(99), samples: lat.length } };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
