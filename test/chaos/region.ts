/**
 * A small region for the fault suite: a database of its own with a worker user (per-table
 * grants, so one can be revoked), two cells (an exchange and durable queues each, on the local
 * broker), a time-sync endpoint, and the product under real pm2 (its own PM2_HOME): one
 * yagi-worker per cell and two pipeline workers running logger → usage → a run counter.
 * Traffic is notigen's, published with confirms by a publisher that survives broker faults.
 * After a scenario, `verdict()` says what was lost, doubled or stuck.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createConnection, type Pool } from 'mysql2/promise';
import { createGenerator, DEFAULT_TEMPLATE_DIR, loadTemplates } from '../../src/notigen/index.js';
import { Distiller } from '../../src/shared/distiller/index.js';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { parseDatabaseUrl } from '../../src/shared/config/database-url.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { createDbPool } from '../../src/shared/db/pool.js';
import { DateTime } from '../../src/shared/time.js';
import { SANDBOX } from '../helpers/configs.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PM2 = join(ROOT, 'node_modules/.bin/pm2');
const HANDLERS = join(ROOT, 'test/fixtures/handlers.mjs');
export const MYSQL = process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
export const AMQP = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const CELLS = ['c1', 'c2'] as const;
const TABLES = ['event_type', 'event', 'trait', 'stream', 'dist_trait', 'streamevent', 'quarantine', 'stv3_schema_migrations', 'ingest_cell'];

export interface Verdict {
  published: number;
  events: number;
  quarantined: number;
  lost: number;
  doubled: number;
  stuck: number;
  recoverSeconds: number;
  notes: string[];
}

export class Region {
  readonly dir: string;
  readonly db: string;
  readonly user: string;
  readonly exchange: string;
  readonly pool: Pool;
  private readonly pm2Home: string;
  private readonly runsFile: string;
  private timeServer: Server | null = null;
  private timePort = 0;
  private currentTime = '';
  /** message_ids of the notigen traffic published (confirmed). */
  readonly publishedIds = new Set<string>();
  /** Hostile bodies published: each must end as an event (id `hostile-…`) or a quarantine row. */
  hostilePublished = 0;
  /** Published notifications no definition matches (dropped by design). */
  unmatched = 0;

  private constructor(readonly name: string, pool: Pool, db: string, user: string) {
    this.name = name;
    this.pool = pool;
    this.db = db;
    this.user = user;
    this.dir = mkdtempSync(join(tmpdir(), `stv3-chaos-${name}-`));
    this.pm2Home = join(this.dir, 'pm2');
    this.runsFile = join(this.dir, 'runs.log');
    this.exchange = `chaos.${name}.${randomBytes(3).toString('hex')}`;
  }

  static async create(name: string): Promise<Region> {
    const db = `stv3_chaos_${name.replace(/\W/g, '_')}`;
    const user = `stv3chaos_${randomBytes(3).toString('hex')}`;
    const server = parseDatabaseUrl(MYSQL);
    const admin = await createConnection({ ...server.options, database: undefined, multipleStatements: true });
    await admin.query(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4`);
    await admin.changeUser({ database: db });
    await migrate(admin);
    await admin.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'chaos'`);
    for (const t of TABLES) await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db}\`.\`${t}\` TO '${user}'@'127.0.0.1'`);
    await admin.end();
    const url = new URL(MYSQL);
    url.pathname = `/${db}`;
    const pool = createDbPool(parseDatabaseUrl(url.href), { connectionLimit: 4 });
    return new Region(name, pool, db, user);
  }

  /** The workers' database URL (their own user). */
  get workerDbUrl(): string {
    const u = new URL(MYSQL);
    u.pathname = `/${this.db}`;
    u.username = this.user;
    u.password = 'chaos';
    u.hostname = '127.0.0.1';
    return u.href;
  }

  queue(cell: string): string {
    return `${this.exchange}.${cell}.notifications.info`;
  }

  /** Config files, the time-sync endpoint, and the apps under pm2; resolves once all are online. */
  async start(pipelineWorkers = 2): Promise<void> {
    await this.startTimeSync();
    const broker = new URL(AMQP);
    writeFileSync(join(this.dir, 'pipelines.yaml'), ['test_fire_pipeline', 'test_expire_pipeline'].map((p) => `${p}:\n  - logger\n  - usage\n  - name: count\n    params: {file: ${this.runsFile}}\n`).join(''));
    writeFileSync(
      join(this.dir, 'winchester.yaml'),
      `config_path: [${this.dir}, ${SANDBOX}]
database: {url: ${this.workerDbUrl}}
distiller_config: event_definitions.yaml
trigger_definitions: triggers.yaml
pipeline_config: pipelines.yaml
statistics_period: 10
time_sync_endpoint: http://127.0.0.1:${this.timePort}
time_sync_poll_seconds: 0.5
pipeline_worker_poll_ms: 200
pipeline_lease_seconds: 6
pipeline_max_attempts: 5
pipeline_handlers:
  logger: winchester.pipeline_handler:LoggingHandler
  usage: winchester.pipeline_handler:UsageHandler
  count: ${HANDLERS}:countRuns
`,
    );
    for (const cell of CELLS) {
      writeFileSync(
        join(this.dir, `yagi-${cell}.conf`),
        `[rabbit_broker]
host = ${broker.hostname}
port = ${broker.port || 5672}
user = ${decodeURIComponent(broker.username) || 'guest'}
password = ${decodeURIComponent(broker.password) || 'guest'}
max_wait = 5
[consumers]
queues = ${this.queue(cell)}
[consumer:${this.queue(cell)}]
apps = winchester.yagi_handler.WinchesterHandler
exchange = ${this.exchange}.${cell}
exchange_type = topic
routing_key = notifications.info
durable = True
max_messages = 100
max_attempts = 3
[winchester]
config_file = ${join(this.dir, 'winchester.yaml')}
`,
      );
    }
    writeFileSync(
      join(this.dir, 'deployment.yaml'),
      `winchester_config: winchester.yaml\npipeline_workers: ${pipelineWorkers}\nkill_timeout_seconds: 15\ncells:\n${CELLS.map((c) => `  - {name: ${c}, yagi_config: yagi-${c}.conf}`).join('\n')}\n`,
    );
    await this.pm2('start', join(ROOT, 'ecosystem.config.js'));
  }

  async pm2(...args: string[]): Promise<string> {
    const { stdout } = await run(PM2, args, { cwd: ROOT, env: { ...process.env, PM2_HOME: this.pm2Home, STV3_DEPLOYMENT: join(this.dir, 'deployment.yaml'), STV3_LOG_LEVEL: 'warn' }, timeout: 180_000 });
    return stdout;
  }

  /** pm2's apps: name, pid, status, restarts. */
  async apps(): Promise<{ name: string; pid: number; status: string; restarts: number }[]> {
    const list = JSON.parse(await this.pm2('jlist')) as { name: string; pid: number; pm2_env: { status: string; restart_time: number } }[];
    return list.map((p) => ({ name: p.name, pid: p.pid, status: p.pm2_env.status, restarts: p.pm2_env.restart_time }));
  }

  /**
   * Publishes `count` notigen notifications (per cell as generated) plus `extra` raw bodies to
   * c1, with confirms, spread over about `durationMs`; survives broker faults (resends a chunk
   * that was not confirmed: its copies are duplicates the workers absorb).
   */
  async traffic(count: number, seed: number, options: { extra?: readonly Buffer[]; chunk?: number; durationMs?: number } = {}): Promise<void> {
    const generator = createGenerator({ templates: loadTemplates(DEFAULT_TEMPLATE_DIR), seed, start: DateTime.of(2015, 2, 1), cells: [...CELLS], count, opsPerHour: 120, instances: 60 });
    const byCell = new Map<string, Buffer[]>(CELLS.map((c) => [c, []]));
    const distiller = Distiller.fromFile(join(SANDBOX, 'event_definitions.yaml'), { catchAll: false });
    for (const g of generator) {
      byCell.get(g.cell)!.push(Buffer.from(encodeOsloV2(g.notification)));
      // No definition matches a few legacy event types: acked and dropped, as upstream.
      if (distiller.distill(g.notification, g.time) === null) this.unmatched++;
      else this.publishedIds.add(String(g.notification['message_id']));
    }
    const extra = options.extra ?? [];
    this.hostilePublished += extra.length;
    // Interleave the hostile bodies into c1's traffic.
    const c1 = byCell.get('c1')!;
    extra.forEach((body, i) => c1.splice(Math.floor(((i + 1) * c1.length) / (extra.length + 1)) + i, 0, body));
    const chunk = options.chunk ?? 50;
    const chunks = Math.max(...[...byCell.values()].map((b) => Math.ceil(b.length / chunk)));
    const pauseMs = (options.durationMs ?? 10_000) / Math.max(chunks, 1);
    await Promise.all(CELLS.map((cell) => this.publishResilient(cell, byCell.get(cell)!, chunk, pauseMs)));
  }

  private async publishResilient(cell: string, bodies: Buffer[], chunk: number, pauseMs: number): Promise<void> {
    let conn: ChannelModel | null = null;
    let ch: ConfirmChannel | null = null;
    for (let i = 0; i < bodies.length; ) {
      try {
        if (!ch) {
          conn = await connect(AMQP);
          conn.on('error', () => undefined);
          ch = await conn.createConfirmChannel();
          ch.on('error', () => undefined);
          await ch.assertExchange(`${this.exchange}.${cell}`, 'topic', { durable: true });
          await ch.assertQueue(this.queue(cell), { durable: true });
          await ch.bindQueue(this.queue(cell), `${this.exchange}.${cell}`, 'notifications.info');
        }
        for (const body of bodies.slice(i, i + chunk)) ch.publish(`${this.exchange}.${cell}`, 'notifications.info', body, { contentType: 'application/json', persistent: true });
        await ch.waitForConfirms();
        i += chunk;
        await new Promise((r) => setTimeout(r, pauseMs));
      } catch {
        ch = null;
        await conn?.close().catch(() => undefined);
        conn = null;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await conn?.close().catch(() => undefined);
  }

  /** Polls until every published message is an event or in quarantine; returns seconds, or null on timeout. */
  async waitIngested(timeoutMs: number): Promise<number | null> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      const { missing, hostileShort } = await this.accounting();
      if (missing.length === 0 && hostileShort <= 0) return (Date.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  }

  /**
   * Traffic ids that are neither an event nor quarantined, and how many hostile bodies are
   * neither: a hostile body's row is an event whose id starts with `hostile-` or a quarantine
   * row that is not a traffic id.
   */
  private async accounting(): Promise<{ missing: string[]; hostileShort: number; events: number; quarantined: number }> {
    const [events] = await this.pool.query('SELECT message_id FROM event');
    const [quarantine] = await this.pool.query('SELECT message_id FROM quarantine');
    const seen = new Set<string>();
    let hostileRows = 0;
    for (const r of events as { message_id: string }[]) {
      seen.add(r.message_id);
      if (r.message_id.startsWith('hostile-') || r.message_id === '') hostileRows++;
    }
    for (const r of quarantine as { message_id: string | null }[]) {
      if (r.message_id !== null && this.publishedIds.has(r.message_id)) seen.add(r.message_id);
      else hostileRows++;
    }
    const missing = [...this.publishedIds].filter((id) => !seen.has(id));
    return { missing, hostileShort: this.hostilePublished - hostileRows, events: (events as unknown[]).length, quarantined: (quarantine as unknown[]).length };
  }

  /** Moves the replay clock past every stream's expiry and waits for the pipelines to finish. */
  async finishStreams(timeoutMs: number): Promise<number> {
    this.currentTime = '2099-01-01 00:00:00';
    const started = Date.now();
    let stuck = Infinity;
    while (Date.now() - started < timeoutMs) {
      stuck = await count(this.pool, 'SELECT COUNT(*) AS n FROM stream WHERE state NOT IN (4, 5, 6)');
      if (stuck === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return stuck;
  }

  /** Lost, doubled and stuck, after waitIngested and finishStreams. */
  async verdict(recoverSeconds: number | null, stuck: number): Promise<Verdict> {
    const a = await this.accounting();
    const notes: string[] = [];
    if (a.missing.length > 0) notes.push(`missing e.g. ${a.missing.slice(0, 3).join(', ')}`);
    if (this.unmatched > 0) notes.push(`${this.unmatched} unmatched (no definition; dropped as upstream)`);
    // A stream's pipeline committed twice without a second attempt recorded.
    const commits = new Map<number, number>();
    if (existsSync(this.runsFile)) {
      for (const line of readFileSync(this.runsFile, 'utf8').split('\n')) {
        const [verb, id] = line.split(' ');
        if (verb === 'commit') commits.set(Number(id), (commits.get(Number(id)) ?? 0) + 1);
      }
    }
    const twice = [...commits].filter(([, n]) => n > 1).map(([id]) => id);
    let doubled = 0;
    if (twice.length > 0) doubled = await count(this.pool, 'SELECT COUNT(*) AS n FROM stream WHERE id IN (?) AND attempts <= 1', [twice]);
    if (twice.length > doubled) notes.push(`${twice.length - doubled} streams ran twice with the retry recorded`);
    // An event in two streams of one trigger.
    doubled += await count(this.pool, 'SELECT COUNT(*) AS n FROM (SELECT se.event_id FROM streamevent se JOIN stream s ON s.id = se.stream_id GROUP BY se.event_id, s.name HAVING COUNT(*) > 1) x');
    const errored = await count(this.pool, 'SELECT COUNT(*) AS n FROM stream WHERE state IN (4, 5) AND (last_error IS NULL OR last_error = \'\')');
    if (errored > 0) notes.push(`${errored} streams in error without a reason`);
    const restarts = (await this.apps()).reduce((s, p) => s + p.restarts, 0);
    if (restarts > 0) notes.push(`${restarts} process restarts by pm2`);
    return {
      published: this.publishedIds.size + this.hostilePublished + this.unmatched,
      events: a.events,
      quarantined: a.quarantined,
      lost: a.missing.length + Math.max(0, a.hostileShort),
      doubled,
      stuck: stuck + errored,
      recoverSeconds: recoverSeconds ?? Infinity,
      notes,
    };
  }

  async stopTimeSync(): Promise<void> {
    await new Promise<void>((r) => (this.timeServer ? this.timeServer.close(() => r()) : r()));
    this.timeServer = null;
  }

  async startTimeSync(): Promise<void> {
    if (this.timeServer) return;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST' && this.currentTime !== '2099-01-01 00:00:00') this.currentTime = body.trim();
        res.end(this.currentTime);
      });
    });
    await new Promise<void>((r) => server.listen(this.timePort, '127.0.0.1', r));
    this.timePort = (server.address() as AddressInfo).port;
    this.timeServer = server;
  }

  /** Sets the replay time as if a yagi-worker posted it (a clock moving backwards, say). */
  setTime(text: string): void {
    this.currentTime = text;
  }

  /** Stops everything; `keepData` leaves the database and the files for inspection. */
  async destroy(keepData = false): Promise<void> {
    await this.pm2('kill').catch(() => undefined);
    await this.stopTimeSync();
    const conn = await connect(AMQP).catch(() => null);
    if (conn) {
      const ch = await conn.createChannel();
      for (const cell of CELLS) {
        await ch.deleteQueue(this.queue(cell)).catch(() => undefined);
        await ch.deleteExchange(`${this.exchange}.${cell}`).catch(() => undefined);
      }
      await conn.close().catch(() => undefined);
    }
    await this.pool.query(`DROP USER IF EXISTS '${this.user}'@'127.0.0.1'`).catch(() => undefined);
    if (!keepData) await this.pool.query(`DROP DATABASE IF EXISTS \`${this.db}\``).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
    if (!keepData) rmSync(this.dir, { recursive: true, force: true });
  }

  log(line: string): void {
    appendFileSync(join(this.dir, 'chaos.log'), `${new Date().toISOString()} ${line}\n`);
  }
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const [rows] = await pool.query(sql, params);
  return Number((rows as { n: number }[])[0]!.n);
}
