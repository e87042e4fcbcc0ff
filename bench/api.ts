/**
 * API benchmark, against the local MariaDB, with the built dist/ API process.
 *
 *   npm run build && flock /tmp/stv3-bench.lock npx tsx bench/api.ts [--events 1000000] [--rebuild]
 *       [--connections 50] [--seconds 10] [--instances 1] [--first N] [--json]
 *
 * 1. Dataset (database stv3_bench_api, kept between runs; --rebuild makes it again): instance
 *    days from the notigen templates (short lifecycles more often, so a stream holds about ten
 *    events), most of them closed by their end-of-day .exists, spread over 30 days of February
 *    2015, distilled with the sandbox definitions and stored through the store (prepareEvent +
 *    storeEvents with the sandbox triggers, in transactions of about 2,000 events) until
 *    --events events: about 100,000 streams. "Now" is each event's own time, as under
 *    time sync, so streams close and open as they would have live.
 * 2. With autocannon, --connections connections for --seconds each: the stream list with
 *    details (limit 100; plain, and gzip as python-requests asks for it), event search by an indexed trait (instance_id), by a non-indexed
 *    trait (host) in a one-hour window, and counts. Prints p50/p99 latency and requests/s.
 *    Target: p99 < 50 ms for the stream list with details at 50 connections. `--first N` runs
 *    only the first N of these.
 *
 * Also the API processes' peak RSS and the CPU µs per request of the API processes and MariaDB.
 * `--json`: the human lines go to stderr, and stdout gets one JSON object (ApiResult) for
 * bench/suite.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Pool } from 'mysql2/promise';
import { parseDatabaseUrl } from '../src/shared/config/database-url.js';
import { createDbPool } from '../src/shared/db/pool.js';
import { withTransaction } from '../src/shared/db/sql.js';
import { Distiller } from '../src/shared/distiller/index.js';
import { prepareEvent, storeEvents, type PreparedEvent } from '../src/shared/store/batch.js';
import { EventTypeIds } from '../src/shared/store/events.js';
import { DateTime } from '../src/shared/time.js';
import { loadTriggerDefinitions } from '../src/shared/triggers/index.js';
import { instantiate, loadTemplates, seededRandom, type Random, type Template } from '../src/notigen/templates.js';
import { cpuSeconds, dbUrl, freshDatabase, pidOf } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const UPSTREAM = join(ROOT, 'fixtures/stacktach-upstream');
const SANDBOX = join(UPSTREAM, 'sandbox');
const DB = 'stv3_bench_api';
const INDEXED = new Set(['instance_id', 'tenant_id', 'request_id', 'user_id']);
const START = DateTime.of(2015, 2, 1);
const DAYS = 30;

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    rebuild: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    instances: { type: 'string', default: '1' },
    first: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const EVENTS = Number(args.events);
// With --json the human lines go to stderr; stdout carries the JSON result only.
const human = args.json ? process.stderr : process.stdout;
const say = (line: string): void => void human.write(`${line}\n`);

/** What `--json` prints: latencies in ms; per scenario, then the processes' figures over all of them. */
export interface ApiResult {
  readonly events: number;
  readonly streams: number;
  readonly connections: number;
  readonly scenarios: readonly Figures[];
  readonly apiPeakRssMb: number;
  readonly cpuUsPerRequest: { readonly api: number; readonly mariadb: number };
}

/** The API's worker processes: the launcher's children. */
function workerPids(launcher: number): number[] {
  try {
    return readFileSync(`/proc/${launcher}/task/${launcher}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A template, short lifecycles more often (weight 1/length): about 9 notifications on average. */
function pickTemplate(templates: readonly Template[], lengths: readonly number[], random: Random): Template {
  const weights = lengths.map((n) => 1 / n);
  let r = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < templates.length; i++) {
    r -= weights[i]!;
    if (r <= 0) return templates[i]!;
  }
  return templates[templates.length - 1]!;
}

async function buildDataset(): Promise<{ seconds: number }> {
  const pool = await freshDatabase(DB, 2);
  const all = loadTemplates(join(UPSTREAM, 'notigen-templates'));
  const eod = all.find((t) => t.name === 'eod_exists')!;
  const templates = all.filter((t) => t !== eod);
  const random = seededRandom(2015);
  const lengths = templates.map((t) => instantiate(t, START, seededRandom(1)).length);
  const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
  const triggers = loadTriggerDefinitions(join(SANDBOX, 'triggers.yaml'));
  const types = new EventTypeIds(pool);
  const started = performance.now();
  // Instance days, ordered in time: at about 105,000 of them over 30 days, one every ~25 s.
  const stepMicros = Math.floor((DAYS * 86_400e6) / (EVENTS / 9.5));
  let stored = 0;
  let at = START.plusSeconds(60);
  let batch: PreparedEvent[] = [];
  const flush = async (): Promise<void> => {
    batch.sort((a, b) => a.event.timestamp.compare(b.event.timestamp));
    const typeIds = await types.resolve(batch.map((p) => p.event.eventType));
    const result = await withTransaction(pool, (conn) => storeEvents(conn, batch, typeIds, INDEXED));
    stored += result.stored.length;
    batch = [];
    if (human.isTTY) human.write(`\rdataset: ${stored} events`);
    else if (stored % 100_000 < 2000) say(`dataset: ${stored} events`);
  };
  while (stored + batch.length < EVENTS) {
    const lifecycle = instantiate(pickTemplate(templates, lengths, random), at, random);
    const payload = lifecycle[0]!['payload'] as Record<string, unknown>;
    const day = at.startOfDay();
    const notifications = [...lifecycle];
    if (random() < 0.8) {
      notifications.push(
        ...instantiate(eod, day.plusSeconds(86_400 + 600), random, {
          payload: { instance_id: payload['instance_id'], tenant_id: payload['tenant_id'], audit_period_beginning: day.toString(), audit_period_ending: day.plusSeconds(86_400).toString(), launched_at: payload['launched_at'], state: 'active', deleted_at: '' },
        }),
      );
    }
    for (const n of notifications) {
      const e = distiller.distill(n, at);
      if (e && batch.length + stored < EVENTS) batch.push(prepareEvent(triggers, e, e.timestamp));
    }
    if (batch.length >= 2000) await flush();
    at = at.plusMicros(stepMicros);
  }
  if (batch.length > 0) await flush();
  if (human.isTTY) human.write('\n');
  await pool.query('ANALYZE TABLE event, trait, stream, dist_trait, streamevent');
  await pool.end();
  return { seconds: (performance.now() - started) / 1000 };
}

async function datasetSize(pool: Pool): Promise<{ events: number; streams: number }> {
  const [rows] = await pool.query('SELECT (SELECT COUNT(*) FROM event) AS events, (SELECT COUNT(*) FROM stream) AS streams');
  return (rows as { events: number; streams: number }[])[0]!;
}

async function startApi(instances: number): Promise<{ url: string; children: ChildProcess[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-bench-api-'));
  const config = join(dir, 'winchester.yaml');
  writeFileSync(config, `config_path: [${SANDBOX}]\ndatabase:\n  url: ${dbUrl(DB)}\ndistiller_config: event_definitions.yaml\ntrigger_definitions: triggers.yaml\npipeline_config: pipelines.yaml\n`);
  const port = 18_000 + Math.floor(Math.random() * 1000);
  // Several instances share the port as under pm2's cluster mode.
  const launcher = join(dir, 'cluster.mjs');
  writeFileSync(
    launcher,
    `import cluster from 'node:cluster';
if (cluster.isPrimary) { for (let i = 0; i < ${instances}; i++) cluster.fork({ NODE_APP_INSTANCE: String(i) }); let ready = 0; cluster.on('message', (_w, m) => { if (m === 'ready' && ++ready === ${instances}) process.send?.('ready'); }); process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill('SIGTERM'); }); }
else { process.argv.push('--config', ${JSON.stringify(config)}, '--port', '${port}'); await import(${JSON.stringify(join(ROOT, 'dist/api/main.js'))}); }
`,
  );
  const child = spawn(process.execPath, [launcher], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, STV3_LOG_LEVEL: 'warn' } });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`api exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, children: [child] };
}

interface Figures {
  readonly name: string;
  readonly p50: number;
  readonly p99: number;
  readonly rps: number;
  readonly errors: number;
  readonly kbPerResponse: number;
  /** Every request made, warm-ups included (what the CPU figures divide by). */
  readonly requests: number;
}

async function measure(name: string, url: string, connections: number, seconds: number, headers: Record<string, string> = {}): Promise<Figures> {
  const warm = await fetch(url, { headers: { 'accept-encoding': 'identity', ...headers } });
  if (!warm.ok) throw new Error(`${name}: ${url} → ${warm.status} ${await warm.text()}`);
  const size = Number(warm.headers.get('content-length') ?? (await warm.arrayBuffer()).byteLength);
  const warm2 = await autocannon({ url, connections, duration: 2, headers }); // warm-up
  const r = await autocannon({ url, connections, duration: seconds, headers });
  return { name, p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, errors: r.errors + r.non2xx, kbPerResponse: size / 1024, requests: r.requests.total + warm2.requests.total + 1 };
}

async function main(): Promise<void> {
  const target = parseDatabaseUrl(dbUrl(DB));
  let pool = createDbPool(target, { connectionLimit: 2 });
  let build: { seconds: number } | null = null;
  let size = await datasetSize(pool).catch(() => ({ events: 0, streams: 0 }));
  if (args.rebuild || size.events < EVENTS) {
    await pool.end();
    build = await buildDataset();
    pool = createDbPool(target, { connectionLimit: 2 });
    size = await datasetSize(pool);
  }
  say(`dataset: ${size.events} events, ${size.streams} streams${build ? `, built in ${build.seconds.toFixed(0)} s (${(size.events / build.seconds).toFixed(0)} events/s through the store)` : ' (kept from an earlier run; --rebuild to make it again)'}`);

  // Query arguments from the data: an instance with events, a busy hour and a host in it.
  const [[mid]] = (await pool.query("SELECT generated FROM event WHERE id = (SELECT MAX(id) DIV 2 FROM event)")) as unknown as [[{ generated: string }]];
  const hourFrom = DateTime.parse(mid!.generated).with({ minute: 0, second: 0, microsecond: 0 });
  const hourTo = hourFrom.plusSeconds(3600);
  const [[inst]] = (await pool.query("SELECT t_string AS v FROM trait WHERE event_id = (SELECT MAX(id) DIV 3 FROM event) AND name = 'instance_id'")) as unknown as [[{ v: string }]];
  const [[host]] = (await pool.query("SELECT JSON_VALUE(traits, '$.host') AS v FROM event WHERE generated > ? AND JSON_VALUE(traits, '$.host') IS NOT NULL LIMIT 1", [hourFrom.toSql()])) as unknown as [[{ v: string }]];
  await pool.end();

  const connections = Number(args.connections);
  const seconds = Number(args.seconds);
  const api = await startApi(Number(args.instances));
  const window = `from_datetime=${hourFrom.toIsoformat()}&to_datetime=${hourTo.toIsoformat()}`;
  const scenarios: [string, string, Record<string, string>?][] = [
    ['stream list, details, limit 100', '/v1/streams?details=true&limit=100'],
    ['stream list, details, limit 100, gzip', '/v1/streams?details=true&limit=100', { 'accept-encoding': 'gzip, deflate' }],
    ['events by indexed trait (instance_id)', `/v1/events?traits=instance_id:${encodeURIComponent(inst!.v)}`],
    ['events by non-indexed trait (host), 1 h window', `/v1/events?${window}&traits=host:${encodeURIComponent(host!.v)}`],
    ['count: streams in state active', '/v1/streams/count?state=active'],
    ['count: events in a 1 h window', `/v1/events/count?${window}`],
  ];
  const results: Figures[] = [];
  const pids = workerPids(api.children[0]!.pid!);
  const mariadb = pidOf('mariadbd');
  const cpu = (): number[] => [...pids.map((p) => cpuSeconds(p)), mariadb ? cpuSeconds(mariadb) : 0];
  let cpu0: number[];
  let cpu1: number[];
  let rss: number;
  try {
    cpu0 = cpu();
    for (const [name, path, headers] of scenarios.slice(0, args.first === undefined ? scenarios.length : Number(args.first))) {
      const f = await measure(name, api.url + path, connections, seconds, headers);
      results.push(f);
      say(`${name.padEnd(48)} p50 ${String(f.p50).padStart(4)} ms   p99 ${String(f.p99).padStart(4)} ms   ${f.rps.toFixed(0).padStart(6)} req/s   ${f.kbPerResponse.toFixed(1)} KiB/response${f.errors ? `   ERRORS ${f.errors}` : ''}`);
    }
    cpu1 = cpu();
    rss = Math.max(0, ...pids.map((p) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024));
  } finally {
    for (const c of api.children) c.kill('SIGTERM');
  }
  const requests = results.reduce((n, f) => n + f.requests, 0);
  const apiUs = (cpu1.slice(0, -1).reduce((a, b) => a + b, 0) - cpu0.slice(0, -1).reduce((a, b) => a + b, 0)) * 1e6 / Math.max(requests, 1);
  const dbUs = ((cpu1.at(-1) ?? 0) - (cpu0.at(-1) ?? 0)) * 1e6 / Math.max(requests, 1);
  say(`API peak RSS ${Math.round(rss)} MB; CPU µs per request: api ${Math.round(apiUs)}, mariadb ${Math.round(dbUs)}`);
  for (const details of results.slice(0, 2)) {
    say(`target p99 < 50 ms, ${details.name}, ${connections} connections, ${args.instances} API process${args.instances === '1' ? '' : 'es'}: ${details.p99 < 50 ? 'met' : 'NOT met'} (${details.p99} ms)`);
  }
  if (args.json) {
    const result: ApiResult = { events: size.events, streams: size.streams, connections, scenarios: results, apiPeakRssMb: rss, cpuUsPerRequest: { api: apiUs, mariadb: dbUs } };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

await main();
