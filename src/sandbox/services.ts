/**
 * The two services everything here needs, MariaDB (or MySQL) and RabbitMQ, found for the
 * sandbox (`npm run sandbox`) and the tests (test/global-setup.ts) alike:
 *
 * 1. each at its URL (MYSQL_URL, default mysql://root@127.0.0.1:3306/; AMQP_URL, default
 *    amqp://guest:guest@127.0.0.1:5672) if it answers there (a login and a version query);
 * 2. else, when a Docker engine answers (testcontainers' own discovery: DOCKER_HOST, the
 *    ~/.testcontainers.properties, the usual sockets), a container started for it: mariadb:10.11
 *    (root without password) or rabbitmq:3-management (guest/guest, the management API on a
 *    mapped port, used to create vhosts);
 * 3. else a ServicesUnavailableError whose message names each missing service, its URL, why it
 *    did not answer, and how to start or install it on Debian/Ubuntu and on macOS.
 *
 * No half-start: both are resolved before anything else happens.
 */
import { connect as netConnect } from 'node:net';
import { connect } from 'amqplib';
import { createConnection } from 'mysql2/promise';
import type { StartedTestContainer } from 'testcontainers';
import { sleep } from '../shared/backoff.js';
import { parseDatabaseUrl } from '../shared/config/database-url.js';
import { toError } from '../shared/errors.js';
import { displayUrl } from '../notigen/index.js';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/';
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const MARIADB_IMAGE = 'mariadb:10.11';
export const RABBITMQ_IMAGE = 'rabbitmq:3-management';

export type ServiceName = 'MariaDB' | 'RabbitMQ';

/** What answered at a URL: the server's version, or why it did not. */
export type Probe = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

/** A service in use: where, which version, and whether we started it (its container id). */
export interface ServiceInUse {
  readonly name: ServiceName;
  readonly url: string;
  readonly version: string;
  /** Set when started here in Docker. */
  readonly containerId?: string;
  /** RabbitMQ in a container: its management API (http://guest:guest@host:port). */
  readonly managementUrl?: string;
}

export interface Services {
  readonly mysql: ServiceInUse;
  readonly amqp: ServiceInUse;
  /** Containers started by this call (stop them with stopContainers, or leave them running). */
  readonly started: readonly StartedTestContainer[];
}

export interface EnsureOptions {
  readonly mysqlUrl?: string;
  readonly amqpUrl?: string;
  /** Start missing services in Docker when it answers (default true). */
  readonly docker?: boolean;
  /**
   * Keep the containers when this process ends, and find them again next time (testcontainers
   * reuse): the sandbox's, which outlive `npm run sandbox`. Tests leave it off (reaped at exit).
   */
  readonly keep?: boolean;
  /** One line per step (what was found, what is being started). */
  readonly say?: (line: string) => void;
  /** Milliseconds to wait for each probe (default 3000). */
  readonly timeoutMs?: number;
}

/** Neither at its URL nor startable in Docker: the message says what to do. */
export class ServicesUnavailableError extends Error {
  constructor(
    message: string,
    readonly missing: readonly ServiceName[],
  ) {
    super(message);
    this.name = 'ServicesUnavailableError';
  }
}

/** mysql2 options for the server at `url`, its database part (if any) left out. */
export function serverOptions(url: string): ReturnType<typeof parseDatabaseUrl>['options'] {
  const u = new URL(url);
  u.pathname = '/mysql';
  return { ...parseDatabaseUrl(u.href).options, database: undefined };
}

/** Connects to the MySQL server at `url` (any database part ignored) and reads its version. */
export async function probeMysql(url: string, timeoutMs = 3000): Promise<Probe> {
  try {
    const options = serverOptions(url);
    const conn = await createConnection({ ...options, database: undefined, connectTimeout: timeoutMs });
    try {
      const [rows] = await conn.query('SELECT VERSION() AS v');
      return { ok: true, version: String((rows as { v: string }[])[0]!.v) };
    } finally {
      await conn.end().catch(() => undefined);
    }
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/** Opens an AMQP connection to `url` and reads the broker's version from its properties. */
export async function probeAmqp(url: string, timeoutMs = 3000): Promise<Probe> {
  try {
    const conn = await connect(url, { timeout: timeoutMs });
    const props = (conn.connection as unknown as { serverProperties?: Record<string, unknown> }).serverProperties ?? {};
    await conn.close().catch(() => undefined);
    return { ok: true, version: `${String(props['product'] ?? 'RabbitMQ')} ${String(props['version'] ?? '?')}` };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/**
 * Whether a container engine answers; the reason when it does not. `STV3_DOCKER=0` says no
 * without looking. An explicit DOCKER_HOST is the only place looked at: if it does not answer,
 * the usual sockets are not tried (testcontainers alone would fall back to them).
 */
export async function probeDocker(): Promise<Probe> {
  if (['0', 'false', 'no'].includes((process.env['STV3_DOCKER'] ?? '').toLowerCase())) return { ok: false, reason: 'STV3_DOCKER=0' };
  const host = process.env['DOCKER_HOST'];
  if (host) {
    const answer = await socketAnswers(host);
    if (answer !== null) return { ok: false, reason: `DOCKER_HOST=${host} does not answer: ${answer}` };
  }
  try {
    const client = await (await testcontainers()).getContainerRuntimeClient();
    return { ok: true, version: client.info.containerRuntime.host };
  } catch (err) {
    return { ok: false, reason: reasonOf(err) };
  }
}

/**
 * testcontainers, loaded only when Docker is wanted: it is a development dependency, absent from
 * the release tarball (whose `--check` and local services need no Docker). Throws an Error saying
 * so when it is not installed.
 */
async function testcontainers(): Promise<typeof import('testcontainers')> {
  try {
    return await import('testcontainers');
  } catch (err) {
    throw new Error(`testcontainers is not installed (a development dependency: npm ci in a clone has it): ${toError(err).message}`, { cause: err });
  }
}

/** null when a connection to the DOCKER_HOST address opens within 2 s, else why not. */
function socketAnswers(dockerHost: string): Promise<string | null> {
  let target: { path: string } | { host: string; port: number };
  try {
    const u = new URL(dockerHost);
    target = u.protocol === 'unix:' ? { path: u.pathname } : { host: u.hostname, port: Number(u.port || 2375) };
  } catch {
    return Promise.resolve('not a URL');
  }
  return new Promise((resolve) => {
    const socket = netConnect(target);
    const done = (reason: string | null): void => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(2000, () => done('timed out'));
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(reasonOf(err)));
  });
}

function reasonOf(err: unknown): string {
  const e = toError(err) as Error & { code?: string; errors?: unknown[] };
  // Node's happy-eyeballs connect gives an AggregateError with an empty message.
  if (!e.message && Array.isArray(e.errors) && e.errors.length > 0) return reasonOf(e.errors[0]);
  return [e.code && !e.message.includes(e.code) ? e.code : '', e.message].filter(Boolean).join(': ') || String(err);
}

/**
 * Finds or starts both services (this module's header). Resolves with their URLs; rejects with
 * ServicesUnavailableError naming each one that could be neither reached nor started.
 */
export async function ensureServices(options: EnsureOptions = {}): Promise<Services> {
  const say = options.say ?? ((): void => undefined);
  const mysqlUrl = options.mysqlUrl ?? process.env['MYSQL_URL'] ?? DEFAULT_MYSQL_URL;
  const amqpUrl = options.amqpUrl ?? process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
  const [mysqlProbe, amqpProbe] = await Promise.all([probeMysql(mysqlUrl, options.timeoutMs), probeAmqp(amqpUrl, options.timeoutMs)]);
  if (mysqlProbe.ok) say(`MariaDB/MySQL ${mysqlProbe.version} at ${displayUrl(mysqlUrl)}`);
  if (amqpProbe.ok) say(`${amqpProbe.version} at ${displayUrl(amqpUrl)}`);
  if (mysqlProbe.ok && amqpProbe.ok) {
    return { mysql: { name: 'MariaDB', url: mysqlUrl, version: mysqlProbe.version }, amqp: { name: 'RabbitMQ', url: amqpUrl, version: amqpProbe.version }, started: [] };
  }
  const docker = options.docker === false ? ({ ok: false, reason: 'not asked to use Docker' } as const) : await probeDocker();
  const missing: { name: ServiceName; url: string; reason: string }[] = [];
  if (!mysqlProbe.ok) missing.push({ name: 'MariaDB', url: mysqlUrl, reason: mysqlProbe.reason });
  if (!amqpProbe.ok) missing.push({ name: 'RabbitMQ', url: amqpUrl, reason: amqpProbe.reason });
  if (!docker.ok) throw new ServicesUnavailableError(unavailableMessage(missing, docker.reason), missing.map((m) => m.name));

  const started: StartedTestContainer[] = [];
  try {
    let mysql: ServiceInUse = { name: 'MariaDB', url: mysqlUrl, version: mysqlProbe.ok ? mysqlProbe.version : '' };
    let amqp: ServiceInUse = { name: 'RabbitMQ', url: amqpUrl, version: amqpProbe.ok ? amqpProbe.version : '' };
    if (!mysqlProbe.ok) {
      say(`MariaDB/MySQL not reachable at ${displayUrl(mysqlUrl)} (${mysqlProbe.reason}); starting ${MARIADB_IMAGE} in Docker`);
      const c = await startMariaDb(options.keep === true);
      started.push(c);
      const url = `mysql://root@${c.getHost()}:${c.getMappedPort(3306)}/`;
      const probe = await waitFor(() => probeMysql(url), 60_000);
      mysql = { name: 'MariaDB', url, version: probe.ok ? probe.version : '?', containerId: c.getId() };
      say(`MariaDB ${mysql.version} in container ${c.getId().slice(0, 12)} at ${url}`);
    }
    if (!amqpProbe.ok) {
      say(`RabbitMQ not reachable at ${displayUrl(amqpUrl)} (${amqpProbe.reason}); starting ${RABBITMQ_IMAGE} in Docker`);
      const c = await startRabbitMq(options.keep === true);
      started.push(c);
      const url = `amqp://guest:guest@${c.getHost()}:${c.getMappedPort(5672)}`;
      const probe = await waitFor(() => probeAmqp(url), 60_000);
      amqp = { name: 'RabbitMQ', url, version: probe.ok ? probe.version : '?', containerId: c.getId(), managementUrl: `http://guest:guest@${c.getHost()}:${c.getMappedPort(15672)}` };
      say(`${amqp.version} in container ${c.getId().slice(0, 12)} at ${url}`);
    }
    return { mysql, amqp, started };
  } catch (err) {
    await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
    throw new ServicesUnavailableError(`could not start ${missing.map((m) => m.name).join(' and ')} in Docker: ${reasonOf(err)}\n\n${unavailableMessage(missing, 'starting the container failed')}`, missing.map((m) => m.name));
  }
}

/**
 * Looks without starting anything: each service at its URL, and Docker when one is missing.
 * `ok` when both answer, or Docker could start what is missing; `lines` say what was found;
 * `error` is ensureServices' message when neither works.
 */
export async function checkServices(options: Pick<EnsureOptions, 'mysqlUrl' | 'amqpUrl' | 'timeoutMs'> = {}): Promise<{ ok: boolean; lines: string[]; error: string | null }> {
  const mysqlUrl = options.mysqlUrl ?? process.env['MYSQL_URL'] ?? DEFAULT_MYSQL_URL;
  const amqpUrl = options.amqpUrl ?? process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
  const [mysqlProbe, amqpProbe] = await Promise.all([probeMysql(mysqlUrl, options.timeoutMs), probeAmqp(amqpUrl, options.timeoutMs)]);
  const lines: string[] = [];
  const missing: { name: ServiceName; url: string; reason: string; image: string }[] = [];
  if (mysqlProbe.ok) lines.push(`MariaDB/MySQL ${mysqlProbe.version} at ${displayUrl(mysqlUrl)}`);
  else missing.push({ name: 'MariaDB', url: mysqlUrl, reason: mysqlProbe.reason, image: MARIADB_IMAGE });
  if (amqpProbe.ok) lines.push(`${amqpProbe.version} at ${displayUrl(amqpUrl)}`);
  else missing.push({ name: 'RabbitMQ', url: amqpUrl, reason: amqpProbe.reason, image: RABBITMQ_IMAGE });
  if (missing.length === 0) return { ok: true, lines: [...lines, 'MariaDB and RabbitMQ: ready'], error: null };
  const docker = await probeDocker();
  if (!docker.ok) return { ok: false, lines, error: unavailableMessage(missing, docker.reason) };
  for (const m of missing) lines.push(`${m.name} not reachable at ${displayUrl(m.url)} (${m.reason}); Docker answers (${docker.version}): the sandbox and the tests start ${m.image} for it`);
  return { ok: true, lines, error: null };
}

async function waitFor(probe: () => Promise<Probe>, timeoutMs: number): Promise<Probe> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await probe();
    if (p.ok || Date.now() > deadline) return p;
    await sleep(500);
  }
}

async function startMariaDb(keep: boolean): Promise<StartedTestContainer> {
  const { GenericContainer, Wait } = await testcontainers();
  const c = new GenericContainer(MARIADB_IMAGE)
    .withEnvironment({ MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1' })
    .withExposedPorts(3306)
    .withLabels({ 'stv3.service': 'mariadb' })
    // The entrypoint starts the server twice (initialisation, then for real).
    .withWaitStrategy(Wait.forLogMessage(/ready for connections/, 2))
    .withStartupTimeout(180_000);
  return (keep ? c.withReuse() : c).start();
}

async function startRabbitMq(keep: boolean): Promise<StartedTestContainer> {
  const { GenericContainer, Wait } = await testcontainers();
  const c = new GenericContainer(RABBITMQ_IMAGE)
    .withExposedPorts(5672, 15672)
    .withLabels({ 'stv3.service': 'rabbitmq' })
    .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
    .withStartupTimeout(180_000);
  return (keep ? c.withReuse() : c).start();
}

/** Stops and removes containers by id (the sandbox's --stop / --reset); missing ones are skipped. */
export async function removeContainers(ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const client = await (await testcontainers()).getContainerRuntimeClient();
  for (const id of ids) {
    const container = client.container.getById(id);
    await client.container.stop(container, { timeout: 10 }).catch(() => undefined);
    await client.container.remove(container, { removeVolumes: true }).catch(() => undefined);
  }
}

/** How to get each missing service running, on Debian/Ubuntu and macOS, or with Docker. */
export function howToStart(name: ServiceName, url: string): string {
  if (name === 'MariaDB') {
    return [
      `  MariaDB (or MySQL 8), expected at ${displayUrl(url)} (set MYSQL_URL to use another):`,
      '    Debian/Ubuntu: sudo apt-get install -y mariadb-server && sudo systemctl start mariadb',
      '                   (root logs in through the socket only there; give the URL a user of its own:)',
      `                   sudo mariadb -e "CREATE USER IF NOT EXISTS 'stv3'@'127.0.0.1' IDENTIFIED BY 'stv3'; GRANT ALL ON *.* TO 'stv3'@'127.0.0.1' WITH GRANT OPTION"`,
      '                   export MYSQL_URL=mysql://stv3:stv3@127.0.0.1:3306/',
      '    macOS:         brew install mariadb && brew services start mariadb   (then the same CREATE USER, with sudo mariadb)',
      `    Docker:        docker run -d --name stv3-mariadb -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 ${MARIADB_IMAGE}`,
    ].join('\n');
  }
  return [
    `  RabbitMQ, expected at ${displayUrl(url)} (set AMQP_URL to use another):`,
    '    Debian/Ubuntu: sudo apt-get install -y rabbitmq-server && sudo systemctl start rabbitmq-server',
    '    macOS:         brew install rabbitmq && brew services start rabbitmq',
    `    Docker:        docker run -d --name stv3-rabbitmq -p 5672:5672 -p 15672:15672 ${RABBITMQ_IMAGE}`,
    '    (guest/guest may log in from this machine only, which is what the default URL does)',
  ].join('\n');
}

function unavailableMessage(missing: readonly { name: ServiceName; url: string; reason: string }[], dockerReason: string): string {
  const names = missing.map((m) => m.name).join(' and ');
  return [
    `${names} ${missing.length > 1 ? 'are' : 'is'} not reachable, and Docker is not available to start ${missing.length > 1 ? 'them' : 'it'} (${dockerReason}):`,
    ...missing.map((m) => `  ${m.name} at ${displayUrl(m.url)}: ${m.reason}`),
    '',
    `Start ${missing.length > 1 ? 'them' : 'it'} (or start Docker and run this again), then retry:`,
    ...missing.map((m) => howToStart(m.name, m.url)),
  ].join('\n');
}
