/**
 * The benchmark suite: `npm run bench` (build, then this), against the local MariaDB and RabbitMQ
 * (MYSQL_URL / AMQP_URL), with the built dist/ processes.
 *
 *   npm run bench [-- --quick] [-- --runs 3] [-- --out bench/RESULTS.md]
 *
 * Runs, round after round (so that a drift of the machine spreads over every figure):
 * bench/ingest.ts without and with --triggers, bench/pipeline.ts (1 and 2 workers, fire
 * latency; upstream's serial claims skipped) and bench/api.ts, each with --json, and prints one
 * table: each figure the median of the runs, with the min and max. Writes the table, the machine
 * (cores, memory, MariaDB and RabbitMQ versions), the commit and the date to bench/RESULTS.md.
 *
 * `--quick` (a smoke check, under a minute): 1 run, small counts, written to
 * bench/RESULTS-quick.md (git-ignored) unless --out says otherwise: its figures are not
 * comparable with a full run's (start-up costs dominate small counts).
 *
 * The benchmarks' own lines go to stderr as they run; a benchmark that fails is reported in the
 * table and the suite exits 1.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { probeAmqp, probeMysql } from '../src/sandbox/services.js';
import type { ApiResult } from './api.js';
import type { IngestResult } from './ingest.js';
import type { PipelineResult } from './pipeline.js';
import { AMQP, MYSQL } from './support.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, runs: { type: 'string' }, out: { type: 'string' } } });
const QUICK = args.quick;
const RUNS = Number(args.runs ?? (QUICK ? 1 : 3));
const OUT = args.out ?? join(ROOT, QUICK ? 'bench/RESULTS-quick.md' : 'bench/RESULTS.md');

/** Each benchmark's arguments, full and quick. */
const PLAN = {
  ingest: QUICK ? ['--count', '2000'] : ['--count', '50000'],
  pipeline: QUICK ? ['--streams', '300', '--latency-seconds', '3', '--skip-serial'] : ['--streams', '20000', '--latency-seconds', '30', '--skip-serial'],
  api: QUICK ? ['--events', '10000', '--seconds', '2', '--connections', '10', '--first', '2'] : ['--events', '1000000', '--seconds', '10', '--connections', '50'],
} as const;

interface Round {
  ingest?: IngestResult;
  ingestTriggers?: IngestResult;
  pipeline?: PipelineResult;
  api?: ApiResult;
}

/** Runs `bench/<script> --json ARGS`; resolves with its JSON, or rejects with its failure. */
function runBenchmark<T>(script: string, benchArgs: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = execFile(TSX, [join(ROOT, 'bench', script), '--json', ...benchArgs], { cwd: ROOT, maxBuffer: 16 << 20, env: process.env }, (err, stdout) => {
      if (err) return reject(new Error(`${script} ${benchArgs.join(' ')}: ${err.message.split('\n')[0]}`));
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as T);
      } catch {
        reject(new Error(`${script}: no JSON result on stdout (got "${line.slice(0, 200)}")`));
      }
    });
    child.stderr?.pipe(process.stderr);
  });
}

/** A figure: its name, unit, and how to read it from a round (undefined when that benchmark failed). */
interface Figure {
  readonly section: string;
  readonly name: string;
  readonly unit: string;
  readonly decimals: number;
  readonly read: (r: Round) => number | null | undefined;
}

const FIGURES: readonly Figure[] = [
  { section: 'ingest', name: 'yagi-worker, end to end', unit: 'notifications/s', decimals: 0, read: (r) => r.ingest?.workerRate },
  { section: 'ingest', name: 'raw ceiling, same run (amqplib + mysql2)', unit: 'notifications/s', decimals: 0, read: (r) => r.ingest?.rawRate },
  { section: 'ingest', name: 'ratio worker / raw', unit: '', decimals: 2, read: (r) => r.ingest?.ratio },
  { section: 'ingest', name: 'CPU ratio raw / worker (all processes)', unit: '', decimals: 2, read: (r) => r.ingest?.cpuRatio },
  { section: 'ingest, sandbox triggers', name: 'yagi-worker, end to end', unit: 'notifications/s', decimals: 0, read: (r) => r.ingestTriggers?.workerRate },
  { section: 'ingest, sandbox triggers', name: 'raw ceiling, same run', unit: 'notifications/s', decimals: 0, read: (r) => r.ingestTriggers?.rawRate },
  { section: 'ingest, sandbox triggers', name: 'ratio worker / raw', unit: '', decimals: 2, read: (r) => r.ingestTriggers?.ratio },
  { section: 'ingest, sandbox triggers', name: 'CPU ratio raw / worker (all processes)', unit: '', decimals: 2, read: (r) => r.ingestTriggers?.cpuRatio },
  { section: 'pipeline (logger + usage)', name: '1 worker', unit: 'streams/s', decimals: 0, read: (r) => r.pipeline?.one.rate },
  { section: 'pipeline (logger + usage)', name: '2 workers', unit: 'streams/s', decimals: 0, read: (r) => r.pipeline?.two.rate },
  { section: 'pipeline (logger + usage)', name: 'fire latency p50, under steady ingest', unit: 'ms', decimals: 0, read: (r) => r.pipeline?.fireLatencyMs.p50 },
  { section: 'pipeline (logger + usage)', name: 'fire latency p99, under steady ingest', unit: 'ms', decimals: 0, read: (r) => r.pipeline?.fireLatencyMs.p99 },
  { section: 'API', name: 'stream list, details, limit 100: p50', unit: 'ms', decimals: 0, read: (r) => r.api?.scenarios[0]?.p50 },
  { section: 'API', name: 'stream list, details, limit 100: p99', unit: 'ms', decimals: 0, read: (r) => r.api?.scenarios[0]?.p99 },
  { section: 'API', name: 'stream list, details, limit 100: requests/s', unit: 'req/s', decimals: 0, read: (r) => r.api?.scenarios[0]?.rps },
  { section: 'API', name: 'stream list, details, limit 100, gzip: p99', unit: 'ms', decimals: 0, read: (r) => r.api?.scenarios[1]?.p99 },
  { section: 'API', name: 'ceiling (the same page from bare node:http): p99', unit: 'ms', decimals: 0, read: (r) => r.api?.ceiling?.p99 },
  { section: 'API', name: 'ceiling (the same page from bare node:http): requests/s', unit: 'req/s', decimals: 0, read: (r) => r.api?.ceiling?.rps },
  { section: 'API', name: 'p99 of the slowest scenario run', unit: 'ms', decimals: 0, read: (r) => (r.api ? Math.max(...r.api.scenarios.map((s) => s.p99)) : undefined) },
  { section: 'peak RSS', name: 'yagi-worker (ingest with triggers)', unit: 'MB', decimals: 0, read: (r) => r.ingestTriggers?.workerPeakRssMb },
  { section: 'peak RSS', name: 'pipeline-worker (largest of 2)', unit: 'MB', decimals: 0, read: (r) => r.pipeline?.two.workerPeakRssMb },
  { section: 'peak RSS', name: 'API process', unit: 'MB', decimals: 0, read: (r) => r.api?.apiPeakRssMb },
  { section: 'CPU per notification (ingest)', name: 'yagi-worker', unit: 'µs', decimals: 0, read: (r) => r.ingest?.cpuUsPerNotification.worker },
  { section: 'CPU per notification (ingest)', name: 'MariaDB', unit: 'µs', decimals: 0, read: (r) => r.ingest?.cpuUsPerNotification.mariadb },
  { section: 'CPU per notification (ingest)', name: 'RabbitMQ', unit: 'µs', decimals: 0, read: (r) => r.ingest?.cpuUsPerNotification.rabbitmq },
  { section: 'CPU per notification (ingest, triggers)', name: 'yagi-worker', unit: 'µs', decimals: 0, read: (r) => r.ingestTriggers?.cpuUsPerNotification.worker },
  { section: 'CPU per notification (ingest, triggers)', name: 'MariaDB', unit: 'µs', decimals: 0, read: (r) => r.ingestTriggers?.cpuUsPerNotification.mariadb },
  { section: 'CPU per notification (ingest, triggers)', name: 'RabbitMQ', unit: 'µs', decimals: 0, read: (r) => r.ingestTriggers?.cpuUsPerNotification.rabbitmq },
  { section: 'CPU per stream (2 workers)', name: 'pipeline-workers together', unit: 'µs', decimals: 0, read: (r) => r.pipeline?.two.cpuUsPerStream.workers },
  { section: 'CPU per stream (2 workers)', name: 'MariaDB', unit: 'µs', decimals: 0, read: (r) => r.pipeline?.two.cpuUsPerStream.mariadb },
  { section: 'CPU per request (API)', name: 'API process', unit: 'µs', decimals: 0, read: (r) => r.api?.cpuUsPerRequest.api },
  { section: 'CPU per request (API)', name: 'MariaDB', unit: 'µs', decimals: 0, read: (r) => r.api?.cpuUsPerRequest.mariadb },
];

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function fmt(value: number, decimals: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** The markdown table: one row per figure, median, min and max over the rounds that produced it. */
function table(rounds: readonly Round[]): string {
  const rows = ['| figure | unit | median | min | max | runs |', '|---|---|--:|--:|--:|--:|'];
  for (const f of FIGURES) {
    const values = rounds.map(f.read).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const cells = values.length ? [fmt(median(values), f.decimals), fmt(Math.min(...values), f.decimals), fmt(Math.max(...values), f.decimals)] : ['n/a', '', ''];
    rows.push(`| ${f.section}: ${f.name} | ${f.unit} | ${cells.join(' | ')} | ${values.length} |`);
  }
  return rows.join('\n');
}

function git(...a: string[]): string {
  try {
    return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

async function machine(): Promise<string[]> {
  const [db, mq] = await Promise.all([probeMysql(MYSQL), probeAmqp(AMQP)]);
  const cpu = cpus();
  return [
    `- cores: ${cpu.length} (${cpu[0]?.model.trim() ?? '?'})`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- MariaDB: ${db.ok ? db.version : `unreachable (${db.reason})`}`,
    `- RabbitMQ: ${mq.ok ? mq.version : `unreachable (${mq.reason})`}`,
    `- Node.js ${process.version}, Linux ${release()}`,
  ];
}

async function main(): Promise<number> {
  // Said before the 15-20 minutes, not after them: bench/api.ts drives its load with wrk.
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version prints its version and exits 1; only a missing binary is an error.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write('bench: bench/api.ts needs wrk as its load generator: apt-get install wrk\n');
      return 2;
    }
  }
  const started = Date.now();
  const rounds: Round[] = [];
  const failures: string[] = [];
  const attempt = async <T>(what: string, script: string, benchArgs: readonly string[]): Promise<T | undefined> => {
    process.stderr.write(`\n== ${what} (round ${rounds.length}/${RUNS}) ==\n`);
    try {
      return await runBenchmark<T>(script, benchArgs);
    } catch (err) {
      failures.push((err as Error).message);
      process.stderr.write(`bench: ${(err as Error).message}\n`);
      return undefined;
    }
  };
  for (let i = 0; i < RUNS; i++) {
    const round: Round = {};
    rounds.push(round);
    const ingest = await attempt<IngestResult>('ingest', 'ingest.ts', PLAN.ingest);
    if (ingest) round.ingest = ingest;
    const ingestTriggers = await attempt<IngestResult>('ingest --triggers', 'ingest.ts', [...PLAN.ingest, '--triggers']);
    if (ingestTriggers) round.ingestTriggers = ingestTriggers;
    const pipeline = await attempt<PipelineResult>('pipeline', 'pipeline.ts', PLAN.pipeline);
    if (pipeline) round.pipeline = pipeline;
    const api = await attempt<ApiResult>('api', 'api.ts', PLAN.api);
    if (api) round.api = api;
  }
  const minutes = (Date.now() - started) / 60_000;
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const apiData = rounds.find((r) => r.api)?.api;
  const text = [
    `# Benchmark results${QUICK ? ' (quick smoke run: small counts, not comparable with a full run)' : ''}`,
    '',
    `\`npm run bench${QUICK ? ' -- --quick' : ''}\` (bench/suite.ts), ${date} UTC, commit ${commit}${dirty ? ' with uncommitted changes' : ''}, ${RUNS} run${RUNS > 1 ? 's' : ''} of each benchmark in ${minutes.toFixed(1)} min.`,
    `Each figure is the median of the runs, with the min and max.`,
    '',
    'Machine:',
    ...(await machine()),
    '',
    'Arguments:',
    `- bench/ingest.ts ${PLAN.ingest.join(' ')} (and again with --triggers)`,
    `- bench/pipeline.ts ${PLAN.pipeline.join(' ')}`,
    `- bench/api.ts ${PLAN.api.join(' ')}${apiData ? ` (dataset: ${apiData.events} events, ${apiData.streams} streams)` : ''}`,
    '',
    table(rounds),
    ...(failures.length ? ['', 'Failed:', ...failures.map((f) => `- ${f}`)] : []),
    '',
  ].join('\n');
  process.stdout.write(`\n${text}`);
  writeFileSync(OUT, text);
  process.stdout.write(`\nwritten to ${relative(process.cwd(), OUT) || OUT}\n`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
