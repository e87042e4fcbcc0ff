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
 * 2. With wrk (Debian's package: `apt-get install wrk`), --connections connections for --seconds
 *    each (after 5 s of warm-up): the stream list with
 *    details (limit 100; plain, and gzip as python-requests asks for it), event search by an indexed trait (instance_id), by a non-indexed
 *    trait (host) in a one-hour window, and counts. Prints p50/p99 latency and requests/s.
 *    Target: p99 < 50 ms for the stream list with details at 50 connections. `--first N` runs
 *    only the first N of these.
 *    Why wrk and not autocannon: the load generator shares the machine's 2 cores with the API,
 *    and autocannon's JavaScript client saturated its own core reading 721 KiB pages at ~470
 *    requests/s (p99 240-320 ms, the API process at 40% CPU), so it measured itself; wrk, in C,
 *    reads the same pages at ~2,500/s with the API process at 100%.
 *
 * Also the API processes' peak RSS and the CPU µs per request of the API processes and MariaDB.
 * `--json`: the human lines go to stderr, and stdout gets one JSON object (ApiResult) for
 * bench/suite.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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
  /** The first scenario's page served by a bare node:http server, measured the same way. */
  readonly ceiling: Figures | undefined;
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
  const warmUp = wrk(url, connections, 5, headers);
  const r = wrk(url, connections, seconds, headers);
  return { name, p50: r.p50, p99: r.p99, rps: r.rps, errors: r.errors, kbPerResponse: size / 1024, requests: r.requests + warmUp.requests + 1 };
}

/**
 * What one Node.js process on this machine can do at best for the first scenario: its exact
 * bytes (`body`) sent by a bare node:http server (no routing, no database), measured with wrk
 * as the API is. Sending the bytes (the kernel copying them over loopback) is most of the API's
 * CPU for that page.
 */
async function measureCeiling(body: Buffer, connections: number, seconds: number): Promise<Figures> {
  const file = join(mkdtempSync(join(tmpdir(), 'stv3-bench-ceiling-')), 'page.json');
  writeFileSync(file, body);
  const server = `const body = require('node:fs').readFileSync(${JSON.stringify(file)});
require('node:http').createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }); res.end(body); }).listen(0, '127.0.0.1', function () { process.send(this.address().port); });`;
  const child = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(Number(m)));
      child.once('exit', (code) => reject(new Error(`ceiling server exited ${code}`)));
    });
    return await measure('ceiling: the same bytes from bare node:http', `http://127.0.0.1:${port}/`, connections, seconds);
  } finally {
    child.kill('SIGTERM');
  }
}

/** One wrk run (2 threads): latencies in ms, requests/s, requests made, errors (socket errors and non-2xx). */
function wrk(url: string, connections: number, seconds: number, headers: Record<string, string>): { p50: number; p99: number; rps: number; requests: number; errors: number } {
  const headerArgs = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  let out: string;
  try {
    out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency', ...headerArgs, url], { encoding: 'utf8' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('bench/api.ts needs wrk as its load generator: apt-get install wrk', { cause: err });
    throw err;
  }
  const field = (re: RegExp): string => {
    const m = re.exec(out);
    if (!m) throw new Error(`cannot read ${re} in wrk's output:\n${out}`);
    return m[1]!;
  };
  const ms = (text: string): number => {
    const [, n, unit] = /^([\d.]+)(us|ms|s)$/.exec(text)!;
    return Number(n) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0;
  return {
    p50: ms(field(/^\s+50%\s+(\S+)\s*$/m)),
    p99: ms(field(/^\s+99%\s+(\S+)\s*$/m)),
    rps: Number(field(/^Requests\/sec:\s+([\d.]+)$/m)),
    requests: Number(field(/^\s+(\d+) requests in/m)),
    errors: socketErrors + Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
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
  let pageBytes: Buffer | undefined;
  try {
    cpu0 = cpu();
    for (const [name, path, headers] of scenarios.slice(0, args.first === undefined ? scenarios.length : Number(args.first))) {
      const f = await measure(name, api.url + path, connections, seconds, headers);
      results.push(f);
      say(`${name.padEnd(48)} p50 ${f.p50.toFixed(1).padStart(6)} ms   p99 ${f.p99.toFixed(1).padStart(6)} ms   ${f.rps.toFixed(0).padStart(6)} req/s   ${f.kbPerResponse.toFixed(1)} KiB/response${f.errors ? `   ERRORS ${f.errors}` : ''}`);
    }
    cpu1 = cpu();
    if (results.length > 0) pageBytes = Buffer.from(await (await fetch(api.url + scenarios[0]![1], { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
    rss = Math.max(0, ...pids.map((p) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024));
  } finally {
    for (const c of api.children) c.kill('SIGTERM');
  }
  // The ceiling for the first scenario: the same page bytes from a bare node:http server.
  const ceiling = pageBytes ? await measureCeiling(pageBytes, connections, seconds) : undefined;
  if (ceiling) {
    say(`${'ceiling: the same bytes from bare node:http'.padEnd(48)} p50 ${ceiling.p50.toFixed(1).padStart(6)} ms   p99 ${ceiling.p99.toFixed(1).padStart(6)} ms   ${ceiling.rps.toFixed(0).padStart(6)} req/s   (API / ceiling: ${(results[0]!.rps / ceiling.rps).toFixed(2)} of the requests/s)`);
  }
  const requests = results.reduce((n, f) => n + f.requests, 0);
  const apiUs = (cpu1.slice(0, -1).reduce((a, b) => a + b, 0) - cpu0.slice(0, -1).reduce((a, b) => a + b, 0)) * 1e6 / Math.max(requests, 1);
  const dbUs = ((cpu1.at(-1) ?? 0) - (cpu0.at(-1) ?? 0)) * 1e6 / Math.max(requests, 1);
  say(`API peak RSS ${Math.round(rss)} MB; CPU µs per request: api ${Math.round(apiUs)}, mariadb ${Math.round(dbUs)}`);
  for (const details of results.slice(0, 2)) {
    say(`target p99 < 50 ms, ${details.name}, ${connections} connections, ${args.instances} API process${args.instances === '1' ? '' : 'es'}: ${details.p99 < 50 ? 'met' : 'NOT met'} (${details.p99} ms)`);
  }
  if (args.json) {
    const result: ApiResult = { events: size.events, streams: size.streams, connections, scenarios: results, ceiling, apiPeakRssMb: rss, cpuUsPerRequest: { api: apiUs, mariadb: dbUs } };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

await main();
