/**
 * `stv3 notigen`: realistic Nova notifications (spec §8.1) published to the cells' RabbitMQ as
 * Nova's oslo.messaging notifier sends them, written to a file, or replayed from one.
 *
 *   stv3 notigen --count 20000 --seed 42 --start "2015-02-01 00:00:00"      fast mode
 *   stv3 notigen --realtime --ops-per-hour 120                              wall clock
 *   stv3 notigen --cell cell1=amqp://u:p@rabbit1/ --cell cell2=amqp://u:p@rabbit2/
 *   stv3 notigen --count 1000 --seed 1 --start 2015-02-01 --to-file day.jsonl.gz
 *   stv3 notigen --from-file day.jsonl.gz --rate 500 --time-sync http://127.0.0.1:8001
 *
 * Progress goes to stdout: a bar with rate and ETA on a terminal, a plain line every 5 s
 * otherwise; then one summary line. Errors go to stderr. SIGINT stops taking new
 * notifications, waits for the broker to confirm those published, prints the summary and
 * exits 0; a second SIGINT exits at once (130).
 */
import { existsSync } from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { pino, type Logger } from 'pino';
import { parseIso8601 } from '../../shared/distiller/iso8601.js';
import { toError } from '../../shared/errors.js';
import { DateTime } from '../../shared/time.js';
import {
  asOutgoing,
  createGenerator,
  DEFAULT_TEMPLATE_DIR,
  displayUrl,
  inRealTime,
  loadTemplates,
  publishNotifications,
  PublishError,
  readNotificationPath,
  writeNotificationFile,
  type CellTarget,
  type NotificationGenerator,
  type OutgoingNotification,
  type PublishProgress,
} from '../../notigen/index.js';
import { CliError, ExitCode } from '../errors.js';

const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
const PLAIN_PROGRESS_EVERY_MS = 5000;
/** One simulated day and the end-of-day .exists after its midnight (sent within 10 minutes). */
const DEFAULT_FAST_HOURS = 24.25;
/** Options that only make sense when generating, refused with --from-file. */
const GENERATOR_OPTIONS = ['seed', 'start', 'realtime', 'opsPerHour', 'instances', 'hours', 'templates'] as const;

interface NotigenOptions {
  seed?: number;
  start?: DateTime;
  realtime?: boolean;
  opsPerHour: number;
  instances: number;
  count?: number;
  hours?: number;
  templates: string;
  cell: CellTarget[];
  exchange: string;
  topic: string;
  routingKey?: string;
  rate?: number;
  timeSync?: string;
  toFile?: string;
  fromFile?: string;
}

/** Adds `stv3 notigen` to the program (options and behaviour in this file's header and --help). */
export function registerNotigen(program: Command): void {
  program
    .command('notigen')
    .description(
      'realistic Nova notifications from the notigen templates (spec §8.1): instances created, then rebooted, resized, rebuilt… and deleted, ' +
        'with end-of-day compute.instance.exists; published as oslo.messaging 2.0 to the cells’ brokers with publisher confirms, or written to a file',
    )
    .option('--seed <n>', 'seed of every random choice; the same seed and options (and --start) give byte-identical notifications (default: random, shown in the summary)', integer('--seed', 0, 0xffff_ffff))
    .option('--start <time>', 'fast mode: simulated time of the first operation, UTC, e.g. "2015-02-01 00:00:00" (default: now)', datetime)
    .option('--realtime', 'wall-clock mode: start now and send each notification when its timestamp comes (default: fast mode, a simulated clock as fast as the broker confirms)')
    .option('--ops-per-hour <n>', 'operations (template plays) per hour of simulated time', positive('--ops-per-hour'), 60)
    .option('--instances <n>', 'instances running at the start; creates and deletes keep the population around it', integer('--instances', 1), 100)
    .option('--count <n>', 'stop after n notifications confirmed (or written, or read from --from-file)', integer('--count', 1))
    .option('--hours <h>', 'stop at start + h hours (simulated in fast mode); default in fast mode without --count: 24.25 (a day and the end-of-day .exists after its midnight); no limit in --realtime', positive('--hours'))
    .addOption(new Option('--templates <dir>', 'notigen template directory').default(DEFAULT_TEMPLATE_DIR, 'the shipped fixtures/stacktach-upstream/notigen-templates'))
    .addOption(
      new Option('--cell <name=url>', 'a cell and its broker; repeat for several cells (each instance belongs to one)')
        .argParser(cellOption)
        .default([], `local=$AMQP_URL, else local=${DEFAULT_AMQP_URL}`),
    )
    .option('--exchange <name>', 'the control exchange, declared as oslo does (topic, not durable)', 'nova')
    .option('--topic <topic>', 'notification topic: routing key <topic>.<priority>, so ERROR notifications go to <topic>.error as Nova sends them', 'notifications')
    .option('--routing-key <key>', 'send every notification with this routing key instead, e.g. notifications.info for a yagi-worker that consumes only that queue')
    .option('--rate <n>', 'at most n notifications per second', positive('--rate'))
    .option(
      '--time-sync <url>',
      'post the timestamp of the latest confirmed notification to <url>/time (spec §4.8), driving the pipeline workers’ clock during a replay. ' +
        'Not needed when the yagi-workers’ winchester.yaml sets time_sync_endpoint: they post each event time themselves as they commit it, which never runs ahead of what is stored. ' +
        'Use it when nothing else posts: the yagi-workers run without time_sync_endpoint while the pipeline workers read one; the time then leads ingestion by the queue backlog',
    )
    .option('--to-file <file>', 'write JSON lines (one oslo 2.0 envelope per line; gzip if it ends in .gz) instead of publishing')
    .option('--from-file <file>', 'replay a file of JSON lines (plain or gzip; envelopes or bare notifications), or a directory of them (a raw archive), into one cell, in order')
    .action(async (opts: NotigenOptions, command: Command) => {
      await runNotigen(opts, (name) => command.getOptionValueSource(name) === 'cli');
    });
}

async function runNotigen(opts: NotigenOptions, given: (option: string) => boolean): Promise<void> {
  checkCombinations(opts, given);
  const cells = opts.cell.length > 0 ? opts.cell : [{ name: 'local', url: process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL }];
  const abort = new AbortController();
  const onSigint = (): void => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('notigen: stopping (waiting for the broker to confirm what was published; SIGINT again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const started = performance.now();
  let generator: NotificationGenerator | null = null;
  let source: Iterable<OutgoingNotification> | AsyncIterable<OutgoingNotification>;
  let seed: number | undefined;
  if (opts.fromFile !== undefined) {
    if (!existsSync(opts.fromFile)) throw new CliError(`--from-file: ${opts.fromFile}: no such file`, ExitCode.notFound);
    source = take(readNotificationPath(opts.fromFile, cells[0]!.name), opts.count);
  } else {
    seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    generator = makeGenerator(opts, seed, cells);
    source = opts.realtime ? inRealTime(asOutgoing(generator), abort.signal) : asOutgoing(generator);
  }
  const display = new ProgressDisplay(opts.count ?? null);
  let outcome: { confirmed: number; published: number; aborted: boolean; detail: string };
  let failure: Error | null = null;
  try {
    if (opts.toFile !== undefined) {
      const result = await writeNotificationFile(opts.toFile, source, { signal: abort.signal, onProgress: (p) => display.update(p) });
      outcome = { ...result, detail: `written to ${opts.toFile}` };
    } else {
      const log = stderrLogger();
      try {
        const summary = await publishNotifications(cells, source, {
          exchange: opts.exchange,
          topic: opts.topic,
          ...(opts.routingKey === undefined ? {} : { routingKey: opts.routingKey }),
          ...(opts.rate === undefined ? {} : { rate: opts.rate }),
          ...(opts.timeSync === undefined ? {} : { timeSync: opts.timeSync }),
          signal: abort.signal,
          onProgress: (p) => display.update(p),
          log,
        });
        outcome = { ...summary, detail: publishDetail(cells, summary.byCell, summary.byRoutingKey) };
      } catch (err) {
        if (!(err instanceof PublishError)) throw err;
        failure = err;
        outcome = { ...err.summary, detail: publishDetail(cells, err.summary.byCell, err.summary.byRoutingKey) };
      }
    }
  } finally {
    display.stop();
    process.off('SIGINT', onSigint);
  }
  const seconds = (performance.now() - started) / 1000;
  const parts = [
    `notigen: ${outcome.aborted ? 'stopped by SIGINT: ' : ''}${outcome.confirmed} notifications ${opts.toFile === undefined ? `confirmed (${outcome.published} published) ` : ''}${outcome.detail} ` +
      `in ${seconds.toFixed(1)} s (${Math.round(outcome.confirmed / Math.max(seconds, 1e-3))}/s)`,
  ];
  if (generator) {
    const { stats } = generator;
    parts.push(`seed ${seed}`, `${stats.operations} operations, ${stats.exists} end-of-day exists`, `simulated ${generator.start.toString()} → ${stats.clock.toString()}`);
  }
  process.stdout.write(`${parts.join('; ')}\n`);
  // Done: an idle keep-alive connection to the time-sync endpoint must not hold the process
  // for the server's keep-alive timeout (an unref'd timer fires only if something else lingers).
  setTimeout(() => process.exit(), 200).unref();
  if (failure) throw new CliError(failure.message);
}

function makeGenerator(opts: NotigenOptions, seed: number, cells: readonly CellTarget[]): NotificationGenerator {
  let templates;
  try {
    templates = loadTemplates(opts.templates);
  } catch (err) {
    throw new CliError(`--templates: ${opts.templates}: ${toError(err).message}`, (err as { code?: string }).code === 'ENOENT' ? ExitCode.notFound : ExitCode.error);
  }
  const start = opts.start ?? DateTime.now();
  const hours = opts.hours ?? (opts.realtime || opts.count !== undefined ? undefined : DEFAULT_FAST_HOURS);
  try {
    return createGenerator({
      templates,
      seed,
      start,
      opsPerHour: opts.opsPerHour,
      instances: opts.instances,
      cells: cells.map((c) => c.name),
      ...(opts.count === undefined ? {} : { count: opts.count }),
      ...(hours === undefined ? {} : { end: start.plusSeconds(hours * 3600) }),
    });
  } catch (err) {
    throw new CliError(`--templates: ${opts.templates}: ${toError(err).message}`);
  }
}

function checkCombinations(opts: NotigenOptions, given: (option: string) => boolean): void {
  if (opts.fromFile !== undefined) {
    const generating = GENERATOR_OPTIONS.filter((o) => given(o));
    if (generating.length > 0) throw new CliError(`--from-file replays a file: ${generating.map(flag).join(', ')} only apply when generating`, ExitCode.usage);
    if (opts.cell.length > 1) throw new CliError('--from-file replays into one cell: give at most one --cell', ExitCode.usage);
    if (opts.toFile !== undefined) throw new CliError('--from-file and --to-file: use one of them', ExitCode.usage);
  }
  if (opts.realtime && opts.start !== undefined) throw new CliError('--start is for fast mode; --realtime starts now', ExitCode.usage);
  if (opts.toFile !== undefined) {
    for (const o of ['rate', 'timeSync', 'routingKey'] as const) if (given(o)) throw new CliError(`--to-file writes a file: ${flag(o)} only applies when publishing`, ExitCode.usage);
  }
  const names = new Set<string>();
  for (const c of opts.cell) {
    if (names.has(c.name)) throw new CliError(`--cell: cell ${c.name} is given twice`, ExitCode.usage);
    names.add(c.name);
  }
}

function flag(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function publishDetail(cells: readonly CellTarget[], byCell: Readonly<Record<string, number>>, byRoutingKey: Readonly<Record<string, number>>): string {
  const where = cells.map((c) => `${c.name} ${displayUrl(c.url)}${cells.length > 1 ? ` ${byCell[c.name] ?? 0}` : ''}`).join(', ');
  const keys = Object.entries(byRoutingKey)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return `to ${cells.length === 1 ? 'cell' : 'cells'} ${where}${keys ? ` (${keys})` : ''}`;
}

async function* take<T>(source: AsyncIterable<T>, count: number | undefined): AsyncGenerator<T> {
  if (count === undefined) return yield* source;
  let n = 0;
  if (n >= count) return;
  for await (const item of source) {
    yield item;
    if (++n >= count) return;
  }
}

/** Warnings as plain `notigen: <message>[: <error>]` lines on stderr. */
function stderrLogger(): Logger {
  return pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        const { msg, err } = JSON.parse(line) as { msg?: string; err?: { message?: string } };
        process.stderr.write(`notigen: ${msg ?? ''}${err?.message ? `: ${err.message}` : ''}\n`);
      },
    },
  );
}

/** A progress bar on a terminal; a plain line every few seconds otherwise. */
class ProgressDisplay {
  private readonly bar: SingleBar | null;
  private lastLine = 0;
  private last: PublishProgress | null = null;

  constructor(private readonly total: number | null) {
    if (!process.stdout.isTTY) {
      this.bar = null;
      return;
    }
    const format = total === null ? 'notigen {value} sent | {speed}/s | {clock}' : 'notigen {bar} {percentage}% | {value}/{total} | {speed}/s | ETA {eta_formatted} | {clock}';
    this.bar = new SingleBar({ format, stream: process.stdout, hideCursor: true, etaBuffer: 40, fps: 5 }, Presets.shades_classic);
    this.bar.start(total ?? 0, 0, { speed: 0, clock: '' });
  }

  update(progress: PublishProgress): void {
    this.last = progress;
    const speed = Math.round(progress.confirmed / Math.max(progress.elapsedMs / 1000, 1e-3));
    const clock = progress.lastTime?.toString() ?? '';
    if (this.bar) {
      this.bar.update(progress.confirmed, { speed, clock });
      return;
    }
    if (performance.now() - this.lastLine < PLAIN_PROGRESS_EVERY_MS) return;
    this.lastLine = performance.now();
    const of = this.total === null ? '' : `/${this.total}`;
    const eta = this.total === null || speed === 0 ? '' : `, ETA ${Math.ceil((this.total - progress.confirmed) / speed)} s`;
    process.stdout.write(`notigen: ${progress.confirmed}${of} sent, ${speed}/s${eta}${clock ? `, at ${clock}` : ''}\n`);
  }

  stop(): void {
    if (this.bar) {
      if (this.last) this.bar.update(this.last.confirmed);
      this.bar.stop();
    }
  }
}

// ---- option parsers: a bad value is a usage error (exit 2) naming the option ----

function integer(option: string, min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${option} must be an integer ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}, got "${text}"`);
    }
    return n;
  };
}

function positive(option: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${option} must be a positive number, got "${text}"`);
    return n;
  };
}

function datetime(text: string): DateTime {
  try {
    return parseIso8601(text);
  } catch {
    throw new InvalidArgumentError(`--start must be a UTC time such as "2015-02-01 00:00:00" or 2015-02-01T00:00:00, got "${text}"`);
  }
}

function cellOption(text: string, previous: CellTarget[]): CellTarget[] {
  const eq = text.indexOf('=');
  const name = text.slice(0, eq).trim();
  const url = text.slice(eq + 1).trim();
  if (eq <= 0 || !/^[\w.-]+$/.test(name) || !/^amqps?:\/\//.test(url)) throw new InvalidArgumentError(`--cell must be NAME=amqp://user:password@host:port/vhost, got "${text}"`);
  try {
    new URL(url);
  } catch {
    throw new InvalidArgumentError(`--cell ${name}: not a URL: "${url}"`);
  }
  return [...previous, { name, url }];
}
