#!/usr/bin/env node
/**
 * `npm run sandbox`: from a fresh clone to a live system in one command (spec §9, upstream's
 * stacktach-sandbox build.sh + screenrc, issue 11).
 *
 *   npm run sandbox                     start (or show the one running) and watch it
 *   npm run sandbox -- --duration 60    watch for a minute, then leave it running
 *   npm run sandbox -- --stop           stop everything it started
 *   npm run sandbox -- --reset          stop, then drop its database and vhosts, remove .sandbox/
 *   npm run sandbox -- --check          only look for MariaDB and RabbitMQ (exit 1 naming what is missing)
 *
 * 1. MariaDB and RabbitMQ at MYSQL_URL / AMQP_URL (local defaults), else started in Docker,
 *    else a message saying how to start them, and exit 1 (services.ts).
 * 2. Database `stv3_sandbox` created and migrated; two cells, each a vhost on the broker
 *    (vhosts.ts says how, and the fallback); the deployment written under `.sandbox/`
 *    (deployment.ts): upstream's sandbox definitions, triggers and pipelines, `log_format: pretty`.
 * 3. Under pm2 (PM2_HOME, default ~/.pm2), every app named `sandbox-…` so that --stop touches
 *    nothing else: `sandbox-yagi-cell1`, `sandbox-yagi-cell2`, `sandbox-pipeline-worker` × cores,
 *    `sandbox-api`, `sandbox-time-sync`, and `sandbox-notigen-cell1/2`: notigen's simulated clock
 *    (fast mode) at --rate notifications/s per cell, starting half an hour before a midnight, so
 *    that the end-of-day .exists make streams fire within a minute.
 * 4. A live status (status.ts) until Ctrl-C or --duration; the system keeps running.
 *
 * Exit codes: 0 done, 1 a service missing or a step failed, 2 usage.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createConnection } from 'mysql2/promise';
import { sleep } from '../shared/backoff.js';
import { migrate } from '../shared/db/migrate.js';
import { parseIso8601 } from '../shared/distiller/iso8601.js';
import { toError } from '../shared/errors.js';
import { DateTime } from '../shared/time.js';
import { appNames, readState, ROOT, writeDeployment, writeState, type SandboxState } from './deployment.js';
import { pm2, pm2Delete, pm2List } from './pm2.js';
import { displayUrl } from '../notigen/index.js';
import { checkServices, ensureServices, probeAmqp, probeDocker, probeMysql, removeContainers, serverOptions, ServicesUnavailableError } from './services.js';
import { readStatus, renderLine, renderScreen, type Reading } from './status.js';
import { createCells, removeCells, type CellMode } from './vhosts.js';

const CELLS = ['cell1', 'cell2'] as const;

interface Options {
  stop?: boolean;
  reset?: boolean;
  check?: boolean;
  duration?: number;
  dir: string;
  database: string;
  prefix: string;
  rate: number;
  start?: string;
  pipelineWorkers: number | 'max';
  apiPort: number;
  timeSyncPort: number;
  interval?: number;
  cellMode: CellMode | 'auto';
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function program(): Command {
  return new Command('sandbox')
    .description('start a complete StackTach.v3 (two cells, workers, API, notigen traffic) on this machine under pm2, and watch it')
    .option('--stop', 'stop everything the sandbox started (its pm2 apps; containers it started are stopped, not removed)')
    .option('--reset', 'stop, then drop the sandbox database and its vhosts (or queues), remove its containers and directory')
    .option('--check', 'only look for MariaDB and RabbitMQ, say what was found, exit 1 if one is missing')
    .option('--duration <seconds>', 'watch for this long, then leave the sandbox running and exit 0', number('--duration', 0))
    .addOption(new Option('--dir <dir>', 'where the deployment is written').default(process.env['STV3_SANDBOX_DIR'] ?? join(ROOT, '.sandbox'), '.sandbox/ in the repository, or $STV3_SANDBOX_DIR'))
    .addOption(new Option('--database <name>', 'database name (default: stv3_<prefix>, so stv3_sandbox, or $STV3_SANDBOX_DATABASE)').argParser(identifier('--database')))
    .addOption(new Option('--prefix <name>', 'pm2 apps are <name>-…, vhosts stv3-<name>-<cell>').default(process.env['STV3_SANDBOX_PREFIX'] ?? 'sandbox', 'sandbox, or $STV3_SANDBOX_PREFIX').argParser(identifier('--prefix')))
    .option('--rate <n>', 'notifications per second into each cell', number('--rate', 0.1), 20)
    .option('--start <time>', 'simulated time of the first notification, UTC (default: 23:30 yesterday)', (text) => {
      try {
        return parseIso8601(text).toString();
      } catch {
        throw new InvalidArgumentError(`--start must be a UTC time such as "2015-02-01 23:30:00", got "${text}"`);
      }
    })
    .option('--pipeline-workers <n>', 'pipeline workers, or "max" for one per core', (v) => (v === 'max' ? 'max' : number('--pipeline-workers', 1)(v)), 'max')
    .option('--api-port <port>', 'API port (the next free one if taken)', number('--api-port', 1), 8000)
    .option('--time-sync-port <port>', 'time-sync port (the next free one if taken)', number('--time-sync-port', 1), 8001)
    .addOption(new Option('--cell-mode <mode>', 'how the cells are made: vhosts through the management API or rabbitmqctl, or one shared vhost (the first that works)').choices(['auto', 'management', 'rabbitmqctl', 'shared']).default('auto'))
    .option('--interval <seconds>', 'seconds between status readings (default 2 on a terminal, 5 otherwise)', number('--interval', 0.2))
    .exitOverride();
}

function number(option: string, min: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${option} must be a number ≥ ${min}, got "${text}"`);
    return n;
  };
}

function identifier(option: string): (text: string) => string {
  return (text) => {
    if (!/^[A-Za-z0-9_]+$/.test(text)) throw new InvalidArgumentError(`${option} must be letters, digits and _, got "${text}"`);
    return text;
  };
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    const parsed = program().parse(process.argv).opts<Omit<Options, 'database'> & { database?: string }>();
    // Another --prefix is another sandbox: it gets its own database unless told otherwise.
    opts = { ...parsed, database: parsed.database ?? process.env['STV3_SANDBOX_DATABASE'] ?? `stv3_${parsed.prefix}` };
  } catch (err) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  if (opts.check) return check();
  if (opts.reset) return reset(opts);
  if (opts.stop) return stop(opts);
  return start(opts);
}

/** --check: what answers where, and whether Docker could stand in; starts nothing. */
async function check(): Promise<number> {
  const result = await checkServices();
  for (const line of result.lines) say(line);
  if (result.error) process.stderr.write(`sandbox: ${result.error}\n`);
  return result.ok ? 0 : 1;
}

async function start(opts: Options): Promise<number> {
  const previous = readState(opts.dir);
  if (previous) {
    const running = (await pm2List()).filter((p) => previous.apps.includes(p.name) && p.status === 'online');
    if (running.length > 0) {
      say(`The sandbox in ${opts.dir} is running (${running.length} processes); showing its status. (--stop to stop it, --reset to start afresh.)`);
      if (previous.prefix !== opts.prefix || previous.database !== opts.database) {
        say(`(It runs with --prefix ${previous.prefix} --database ${previous.database}; yours (${opts.prefix}, ${opts.database}) apply only to a new start: --stop first, or give another --dir for a second sandbox.)`);
      }
      return watch(previous, opts);
    }
    // Stopped or errored leftovers of an earlier start: started afresh below.
    await pm2Delete(previous.apps);
  }

  let services;
  try {
    services = await ensureServices({ say: (l) => say(`services: ${l}`), keep: true });
  } catch (err) {
    if (!(err instanceof ServicesUnavailableError)) throw err;
    process.stderr.write(`sandbox: ${err.message}\n`);
    return 1;
  }

  const server = new URL(services.mysql.url);
  server.pathname = '/';
  const databaseUrl = new URL(server.href);
  databaseUrl.pathname = `/${opts.database}`;
  const admin = await createConnection({ ...serverOptions(server.href), multipleStatements: true });
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${opts.database}\` CHARACTER SET utf8mb4`);
    await admin.changeUser({ database: opts.database });
    const applied = await migrate(admin);
    say(`database: ${opts.database} on ${displayUrl(server.href)}${applied.length ? `, migrations applied: ${applied.join(', ')}` : ', migrations current'}`);
  } finally {
    await admin.end().catch(() => undefined);
  }

  const layout = await createCells(services.amqp.url, `stv3-${opts.prefix}`, CELLS, { managementUrl: services.amqp.managementUrl, mode: opts.cellMode });
  say(
    layout.mode === 'shared'
      ? `cells: ${CELLS.join(', ')} share vhost ${layout.cells[0]!.vhost} (no management API and no rabbitmqctl here), each with its own exchange and queue: ${layout.cells.map((c) => `${c.exchange} → ${c.queue}`).join(', ')}`
      : `cells: ${layout.cells.map((c) => `${c.name} in vhost ${c.vhost}`).join(', ')} (created with ${layout.mode === 'management' ? 'the management API' : 'rabbitmqctl'}), exchange nova, queue notifications.info`,
  );

  const apiPort = await freePort(opts.apiPort);
  const timeSyncPort = await freePort(opts.timeSyncPort === apiPort ? apiPort + 1 : opts.timeSyncPort, [apiPort]);
  const startAt = opts.start ?? DateTime.now().startOfDay().plusSeconds(-1800).toString();
  const state: SandboxState = {
    prefix: opts.prefix,
    dir: opts.dir,
    database: opts.database,
    mysqlUrl: server.href,
    databaseUrl: databaseUrl.href,
    amqpUrl: services.amqp.url,
    layout,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    timeSyncPort,
    // Fresh seeds each start: a restart after --stop sends new instances, not duplicates.
    traffic: { rate: opts.rate, start: startAt, opsPerHour: 60, instances: 50, seeds: Object.fromEntries(CELLS.map((c) => [c, Math.floor(Math.random() * 2 ** 31)])) },
    apps: appNames(opts.prefix, CELLS),
    containers: [...(previous?.containers ?? []), ...[services.mysql.containerId, services.amqp.containerId].filter((id): id is string => !!id)].filter((id, i, all) => all.indexOf(id) === i),
    pm2Home: process.env['PM2_HOME'] ?? null,
  };
  const files = writeDeployment(state, { pipelineWorkers: opts.pipelineWorkers, apiPort });
  writeState(state);
  say(`deployment: ${opts.dir} (deployment.yaml, winchester.yaml, pipelines.yaml, yagi-cell1.conf, yagi-cell2.conf, traffic.config.json)`);

  say(`pm2: starting ${state.apps.join(', ')} …`);
  try {
    await pm2(['start', join(ROOT, 'ecosystem.config.js')], { STV3_DEPLOYMENT: files.deployment });
    await pm2(['start', files.traffic]);
  } catch (err) {
    process.stderr.write(`sandbox: ${toError(err).message}\nsandbox: see npx pm2 logs '/^${opts.prefix}-/' --lines 50; npm run sandbox -- --stop stops what did start\n`);
    return 1;
  }
  say(`pm2: started; traffic: notigen into each cell at ${opts.rate}/s from simulated ${startAt}`);
  return watch(state, opts);
}

/** The status until Ctrl-C or --duration; the system keeps running either way. */
async function watch(state: SandboxState, opts: Options): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const intervalMs = (opts.interval ?? (tty ? 2 : 5)) * 1000;
  const until = opts.duration === undefined ? Infinity : Date.now() + opts.duration * 1000;
  const leave = `The sandbox keeps running. npx pm2 ls; npm run sandbox to watch again; npm run sandbox -- --stop to stop it.`;
  let interrupted = false;
  const wake = new AbortController();
  process.once('SIGINT', () => {
    interrupted = true;
    wake.abort();
  });
  let previous: Reading | null = null;
  while (!interrupted && Date.now() < until) {
    const current = await readStatus(state);
    if (tty) process.stdout.write(`\x1b[H\x1b[2J${renderScreen(state, current, previous)}\n`);
    else say(renderLine(state, current, previous));
    previous = current;
    const wait = Math.min(intervalMs, until - Date.now());
    if (wait > 0) await sleep(wait, wake.signal);
  }
  say(`\n${leave}`);
  return 0;
}

async function stop(opts: Options): Promise<number> {
  const state = readState(opts.dir);
  if (!state) {
    say(`sandbox: nothing to stop (no ${join(opts.dir, 'state.json')})`);
    return 0;
  }
  // Traffic first, then ingest (commits and acks its batch), then the pipeline workers (finish
  // or give back their streams), the API and the clock.
  const order = [...state.apps.filter((a) => a.includes('-notigen-')), ...state.apps.filter((a) => !a.includes('-notigen-'))];
  const deleted = await pm2Delete(order);
  say(deleted.length ? `sandbox: stopped ${deleted.join(', ')}` : 'sandbox: no sandbox process was running');
  if (state.containers.length > 0) {
    await stopContainers(state.containers, false);
    say(`sandbox: stopped containers ${state.containers.map((c) => c.slice(0, 12)).join(', ')} (npm run sandbox starts them again; --reset removes them)`);
  }
  return 0;
}

async function stopContainers(ids: readonly string[], remove: boolean): Promise<void> {
  if (!(await probeDocker()).ok) return;
  if (remove) return removeContainers(ids);
  const { getContainerRuntimeClient } = await import('testcontainers'); // only with Docker (a dev dependency)
  const client = await getContainerRuntimeClient();
  for (const id of ids) await client.container.stop(client.container.getById(id), { timeout: 10 }).catch(() => undefined);
}

async function reset(opts: Options): Promise<number> {
  const state = readState(opts.dir);
  await stop(opts);
  if (state && state.containers.length > 0) {
    await stopContainers(state.containers, true);
    say(`sandbox: removed containers ${state.containers.map((c) => c.slice(0, 12)).join(', ')} (and the data in them)`);
  } else if (state === null) {
    // Without the sandbox's own record, nothing says the database or vhosts are its: another
    // sandbox or a deployment may use the same names.
    say(`sandbox: no ${join(opts.dir, 'state.json')}: database ${opts.database} and vhosts (if any) left as they are; drop them yourself if they were this sandbox's`);
  } else {
    if ((await probeMysql(state.mysqlUrl)).ok) {
      const admin = await createConnection(serverOptions(state.mysqlUrl));
      await admin.query(`DROP DATABASE IF EXISTS \`${state.database}\``);
      await admin.end();
      say(`sandbox: dropped database ${state.database}`);
    }
    if ((await probeAmqp(state.amqpUrl)).ok) {
      await removeCells(state.layout);
      say(`sandbox: removed ${state.layout.mode === 'shared' ? `exchanges and queues ${state.layout.cells.map((c) => c.queue).join(', ')}` : `vhosts ${state.layout.cells.map((c) => c.vhost).join(', ')}`}`);
    }
  }
  rmSync(opts.dir, { recursive: true, force: true });
  say(`sandbox: removed ${opts.dir}`);
  return 0;
}

/** `port` if free on 127.0.0.1, else the next free one (skipping `taken`). */
async function freePort(port: number, taken: readonly number[] = []): Promise<number> {
  for (let p = port; p < port + 100; p++) {
    if (taken.includes(p)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return p;
  }
  throw new Error(`no free port from ${port} to ${port + 99}`);
}

// Output piped into a command that stopped reading (| head): nothing left to say.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

main().then(
  (code) => {
    process.exitCode = code;
    // amqplib / mysql2 sockets closed; a lingering keep-alive must not hold the exit.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`sandbox: ${toError(err).message}\n`);
    process.exit(1);
  },
);
