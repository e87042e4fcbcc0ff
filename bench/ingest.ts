/**
 * Ingest benchmark: one yagi-worker (the built dist/ process) against the local RabbitMQ and
 * MariaDB, end to end, and in the same run the raw ceiling for the same work on this machine:
 * amqplib consume + JSON parse + mysql2 batched inserts of exactly the rows the worker writes
 * (precomputed, so no distilling), two batches in flight, ack after commit.
 *
 *   npm run build && npx tsx bench/ingest.ts [--count 50000] [--triggers] [--replay] [--json]
 *
 * --replay dates the notifications in February 2015 and runs without time sync, as an old
 * archive replayed live would: with --triggers every event then finds its stream already expired
 * (upstream's behaviour), the worst case for stream filing.
 *
 * The queue is filled first, then the consumer started, so the figure is the consumer's rate.
 * Prints notifications/s for both, the ratio, SQL statements per event, and the worker's peak RSS.
 * `--json`: those lines go to stderr, and stdout gets one JSON object (IngestResult) for
 * bench/suite.ts.
 *
 * Knobs for experiments (environment): BENCH_BATCH (max_messages, 100), BENCH_CONSUMER_EXTRA
 * (more [consumer:…] lines, e.g. "prefetch = 400"), BENCH_WINCHESTER_EXTRA (more winchester.yaml),
 * BENCH_WORKER_NODE_OPTIONS (the worker's node flags instead of ecosystem.config.js's),
 * BENCH_PROFILE=1 (a V8 CPU profile of the worker in /tmp/prof).
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from 'amqplib';
import type { Pool } from 'mysql2/promise';
import { encodeOsloV2 } from '../src/shared/amqp/oslo.js';
import { EventTypeIds, insertEvents } from '../src/shared/store/events.js';
import { Distiller } from '../src/shared/distiller/index.js';
import type { Event } from '../src/shared/event.js';
import { generateNotifications, loadTemplates, seededRandom } from '../src/notigen/templates.js';
import { DateTime } from '../src/shared/time.js';
import { AMQP, cpuSeconds, dbUrl, fillQueue, freshDatabase, pidOf } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SANDBOX = join(ROOT, 'fixtures/stacktach-upstream/sandbox');
/** As ecosystem.config.js starts the yagi-workers (BENCH_WORKER_NODE_OPTIONS replaces them). */
const YAGI_NODE_ARGS = ['--max-semi-space-size=4', '--heap-growing-percent=100'];
const BATCH = Number(process.env["BENCH_BATCH"] ?? 100);
const INDEXED = new Set(['instance_id', 'tenant_id', 'request_id', 'user_id']);

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '50000' }, triggers: { type: 'boolean', default: false }, replay: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const COUNT = Number(args.count);
// With --json the human lines go to stderr; stdout carries the JSON result only.
const say = args.json ? (line: string): void => void process.stderr.write(`${line}\n`) : (line: string): void => console.log(line);

/** What `--json` prints: rates in notifications/s, RSS in MB, CPU in µs per notification. */
export interface IngestResult {
  readonly count: number;
  readonly triggers: boolean;
  readonly rawRate: number;
  readonly workerRate: number;
  readonly ratio: number;
  readonly statementsPerEvent: number;
  readonly workerPeakRssMb: number;
  readonly cpuUsPerNotification: { readonly worker: number; readonly mariadb: number; readonly rabbitmq: number; readonly raw: number };
  /** The raw ceiling's CPU per notification: its Node process, MariaDB, RabbitMQ. */
  readonly rawCpuUsPerNotification: { readonly node: number; readonly mariadb: number; readonly rabbitmq: number };
  /**
   * The raw ceiling's CPU per notification (all three processes) over the worker's: the ratio
   * the rates would have if the machine's cores were the only limit. Far steadier than the
   * rates on a shared machine.
   */
  readonly cpuRatio: number;
}

type ServicePids = { readonly mariadb: number | null; readonly rabbitmq: number | null };

function servicePids(): ServicePids {
  return { mariadb: pidOf('mariadbd'), rabbitmq: pidOf('beam.smp') };
}

/** CPU seconds used so far by each service (0 for one not found). */
function serviceCpu(pids: ServicePids): { mariadb: number; rabbitmq: number } {
  return { mariadb: pids.mariadb ? cpuSeconds(pids.mariadb) : 0, rabbitmq: pids.rabbitmq ? cpuSeconds(pids.rabbitmq) : 0 };
}

/** µs of CPU per notification that process `pid` used since `before` (its CPU seconds then); NaN without a pid. */
function cpuUsSince(pid: number | null, before: number, notifications: number): number {
  return pid ? ((cpuSeconds(pid) - before) / notifications) * 1e6 : NaN;
}

async function statementCount(pool: Pool): Promise<number> {
  const [rows] = await pool.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert', 'Com_select', 'Com_update', 'Com_delete', 'Com_commit', 'Com_begin')");
  return (rows as { Value: string }[]).reduce((s, r) => s + Number(r.Value), 0);
}

/** The worker, end to end. */
async function runWorker(bodies: string[], expectedEvents: number): Promise<{ rate: number; rssMb: number; statementsPerEvent: number; cpuUs: Record<string, number> }> {
  const db = { url: dbUrl('stv3_bench_worker'), pool: await freshDatabase('stv3_bench_worker') };
  const queue = 'bench.worker';
  await fillQueue(queue, bodies);
  const dir = mkdtempSync(join(tmpdir(), 'stv3-bench-'));
  const broker = new URL(AMQP);
  writeFileSync(join(dir, 'winchester.yaml'), `config_path: [${SANDBOX}]\ndatabase:\n  url: ${db.url}\ndistiller_config: event_definitions.yaml\n${args.triggers ? 'trigger_definitions: triggers.yaml\npipeline_config: pipelines.yaml\n' : ''}statistics_period: 5\n${process.env["BENCH_WINCHESTER_EXTRA"] ?? ""}\n`);
  writeFileSync(
    join(dir, 'yagi-bench.conf'),
    `[rabbit_broker]\nhost = ${broker.hostname}\nport = ${broker.port || 5672}\nuser = guest\npassword = guest\n[consumers]\nqueues = ${queue}\n[consumer:${queue}]\napps = winchester.yagi_handler.WinchesterHandler\nexchange = bench\nexchange_type = topic\nrouting_key = ${queue}\nmax_messages = ${BATCH}\n${process.env["BENCH_CONSUMER_EXTRA"] ?? ""}\n[winchester]\nconfig_file = ${join(dir, 'winchester.yaml')}\n`,
  );
  const before = await statementCount(db.pool);
  const child = spawn(process.execPath, [...(process.env['BENCH_PROFILE'] ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), ...(process.env['BENCH_WORKER_NODE_OPTIONS']?.split(' ').filter(Boolean) ?? YAGI_NODE_ARGS), join(ROOT, 'dist/yagi-worker/main.js'), '--config', join(dir, 'yagi-bench.conf')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, STV3_LOG_LEVEL: 'warn' } });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
  const services = servicePids();
  const cpuBefore = { worker: cpuSeconds(child.pid!), ...serviceCpu(services) };
  const started = performance.now();
  let peakRss = 0;
  for (;;) {
    const [rows] = await db.pool.query('SELECT COUNT(*) AS n FROM event');
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    peakRss = Math.max(peakRss, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    if ((rows as { n: number }[])[0]!.n >= expectedEvents) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const statements = (await statementCount(db.pool)) - before;
  const n = bodies.length;
  const cpuUs = { worker: cpuUsSince(child.pid!, cpuBefore.worker, n), mariadb: cpuUsSince(services.mariadb, cpuBefore.mariadb, n), rabbitmq: cpuUsSince(services.rabbitmq, cpuBefore.rabbitmq, n) };
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await db.pool.end();
  return { rate: bodies.length / seconds, rssMb: peakRss, statementsPerEvent: statements / expectedEvents, cpuUs };
}

/** The raw ceiling: the same rows, precomputed, consumed and inserted with bare amqplib + mysql2. */
async function runRaw(bodies: string[], events: Map<string, Event>): Promise<{ rate: number; cpuUs: IngestResult['rawCpuUsPerNotification'] }> {
  const db = { pool: await freshDatabase('stv3_bench_raw') };
  const queue = 'bench.raw';
  await fillQueue(queue, bodies);
  const typeIds = await new EventTypeIds(db.pool).resolve([...events.values()].map((e) => e.eventType));
  const conn = await connect(AMQP);
  const ch = await conn.createChannel();
  await ch.prefetch(BATCH * 3);
  const services = servicePids();
  const servicesBefore = serviceCpu(services);
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let done = 0;
  let received = 0;
  let pending: { msg: import('amqplib').ConsumeMessage; event: Event | undefined }[] = [];
  const inFlight: Promise<void>[] = [];
  let chain = Promise.resolve();
  await new Promise<void>((resolve) => {
    const flush = (): void => {
      const batch = pending;
      pending = [];
      const commit = (async () => {
        const c = await db.pool.getConnection();
        await c.beginTransaction();
        await insertEvents(c, batch.map((b) => b.event).filter((e): e is Event => e !== undefined), typeIds, INDEXED);
        await c.commit();
        c.release();
      })();
      inFlight.push(commit);
      // acks in order, after the commit
      chain = chain.then(() => commit).then(() => {
        ch.ack(batch[batch.length - 1]!.msg, true);
        done += batch.length;
        if (done >= bodies.length) resolve();
      });
    };
    void ch.consume(queue, (msg) => {
      if (!msg) return;
      const outer = JSON.parse(msg.content.toString('utf8')) as { 'oslo.message': string };
      const inner = JSON.parse(outer['oslo.message']) as { message_id: string };
      pending.push({ msg, event: events.get(inner.message_id) });
      received++;
      if (pending.length >= BATCH || received === bodies.length) flush();
    });
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const n = bodies.length;
  const cpuUs = { node: (cpu.user + cpu.system) / n, mariadb: cpuUsSince(services.mariadb, servicesBefore.mariadb, n), rabbitmq: cpuUsSince(services.rabbitmq, servicesBefore.rabbitmq, n) };
  await Promise.all(inFlight);
  await conn.close();
  await db.pool.end();
  return { rate: bodies.length / seconds, cpuUs };
}

async function main(): Promise<void> {
  const templates = loadTemplates(join(ROOT, 'fixtures/stacktach-upstream/notigen-templates'));
  // A lifecycle every 30 s, ending about now, so that streams are live (not expired on
  // arrival) as in production: about one stream per instance and day.
  const start = args.replay ? DateTime.of(2015, 2, 2) : DateTime.now().plusSeconds(-COUNT * 3);
  const notifications = generateNotifications(templates, COUNT, seededRandom(42), start, 30);
  const bodies = notifications.map(encodeOsloV2);
  const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
  const events = new Map<string, Event>();
  for (const n of notifications) {
    const e = distiller.distill(n, DateTime.now());
    if (e) events.set(e.messageId, e);
  }
  const avgBytes = bodies.reduce((s, b) => s + b.length, 0) / bodies.length;
  say(`${COUNT} notifications (${events.size} stored by the sandbox definitions), ${Math.round(avgBytes)} bytes average, batch ${BATCH}${args.triggers ? ', sandbox triggers on' : ''}${args.replay ? ', 2015 timestamps without time sync' : ''}`);

  const raw = await runRaw(bodies, events);
  const worker = await runWorker(bodies, events.size);
  say(`raw ceiling (amqplib + mysql2, same rows): ${Math.round(raw.rate)} notifications/s`);
  say(`yagi-worker end to end:                   ${Math.round(worker.rate)} notifications/s`);
  say(`ratio worker / raw:                       ${(worker.rate / raw.rate).toFixed(2)}`);
  say(`SQL statements per event (worker):        ${worker.statementsPerEvent.toFixed(3)}`);
  say(`worker peak RSS:                          ${Math.round(worker.rssMb)} MB`);
  const workerCpu = (worker.cpuUs['worker'] ?? NaN) + (worker.cpuUs['mariadb'] ?? NaN) + (worker.cpuUs['rabbitmq'] ?? NaN);
  const rawCpu = raw.cpuUs.node + raw.cpuUs.mariadb + raw.cpuUs.rabbitmq;
  say(`CPU µs per notification: ${Object.entries(worker.cpuUs).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')} (total ${Math.round(workerCpu)})`);
  say(`  raw ceiling's:         node ${Math.round(raw.cpuUs.node)}, mariadb ${Math.round(raw.cpuUs.mariadb)}, rabbitmq ${Math.round(raw.cpuUs.rabbitmq)} (total ${Math.round(rawCpu)})`);
  say(`CPU ratio raw / worker:                   ${(rawCpu / workerCpu).toFixed(2)} (the rate ratio if cores were the only limit)`);
  if (args.json) {
    const result: IngestResult = {
      count: COUNT,
      triggers: args.triggers,
      rawRate: raw.rate,
      workerRate: worker.rate,
      ratio: worker.rate / raw.rate,
      statementsPerEvent: worker.statementsPerEvent,
      workerPeakRssMb: worker.rssMb,
      cpuUsPerNotification: { worker: worker.cpuUs['worker'] ?? NaN, mariadb: worker.cpuUs['mariadb'] ?? NaN, rabbitmq: worker.cpuUs['rabbitmq'] ?? NaN, raw: raw.cpuUs.node },
      rawCpuUsPerNotification: raw.cpuUs,
      cpuRatio: rawCpu / workerCpu,
    };
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
