/**
 * The sandbox deployment, written under its directory (default `.sandbox/` in the repository,
 * git-ignored), in the formats an operator writes by hand (README "Configuration"):
 *
 *   winchester.yaml        the sandbox database, upstream's sandbox event definitions and
 *                          triggers (fixtures/stacktach-upstream/sandbox, through config_path),
 *                          time sync (the traffic is a simulated clock), statistics every 10 s
 *   pipelines.yaml         upstream's sandbox pipelines, notabene pointed at the first cell
 *   yagi-<cell>.conf       one per cell: its vhost (or exchange and queue), notifications.info
 *   deployment.yaml        for ecosystem.config.js: the cells, pipeline workers, the API,
 *                          `log_format: pretty`, `name_prefix: <prefix>-`
 *   traffic.config.json    a pm2 file for the time-sync service and one notigen per cell
 *   state.json             what was started, for `--stop` and `--reset` (SandboxState)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { sharedMonitor, type CellLayout } from './vhosts.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const UPSTREAM_SANDBOX = join(ROOT, 'fixtures/stacktach-upstream/sandbox');

/** How notigen makes each cell's traffic (the same values regenerate the same notifications). */
export interface TrafficPlan {
  /** Notifications per second, per cell. */
  readonly rate: number;
  /** Simulated time of the first operation ("YYYY-MM-DD HH:MM:SS", UTC). */
  readonly start: string;
  readonly opsPerHour: number;
  readonly instances: number;
  /** notigen --seed per cell name. */
  readonly seeds: Readonly<Record<string, number>>;
}

/** Everything `--stop` and `--reset` need, and the status display reads. */
export interface SandboxState {
  readonly prefix: string;
  readonly dir: string;
  readonly database: string;
  /** Server URL (no database part) and the sandbox database's URL. */
  readonly mysqlUrl: string;
  readonly databaseUrl: string;
  readonly amqpUrl: string;
  readonly layout: CellLayout;
  readonly apiUrl: string;
  readonly timeSyncPort: number;
  readonly traffic: TrafficPlan;
  /** pm2 app names started (each may have several instances). */
  readonly apps: readonly string[];
  /** Docker containers started for the services (removed by --stop). */
  readonly containers: readonly string[];
  readonly pm2Home: string | null;
}

export function statePath(dir: string): string {
  return join(dir, 'state.json');
}

export function readState(dir: string): SandboxState | null {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as SandboxState;
  } catch {
    return null;
  }
}

export function writeState(state: SandboxState): void {
  mkdirSync(state.dir, { recursive: true });
  writeFileSync(statePath(state.dir), `${JSON.stringify(state, null, 2)}\n`);
}

export interface WriteOptions {
  readonly pipelineWorkers: number | 'max';
  readonly apiPort: number;
}

/** The pm2 app names the sandbox runs for these cells (ecosystem.config.js's, prefixed, and its own). */
export function appNames(prefix: string, cells: readonly string[]): string[] {
  return [...cells.map((c) => `${prefix}-yagi-${c}`), `${prefix}-pipeline-worker`, `${prefix}-api`, `${prefix}-time-sync`, ...cells.map((c) => `${prefix}-notigen-${c}`)];
}

/** Writes every file of the deployment (this module's header) under state.dir. */
export function writeDeployment(state: SandboxState, options: WriteOptions): { deployment: string; traffic: string } {
  const dir = state.dir;
  mkdirSync(dir, { recursive: true });
  const first = state.layout.cells[0]!;
  const firstUrl = new URL(first.url);

  // Upstream's pipelines, with notabene publishing to the first cell's broker, not localhost's "/".
  const pipelines = parse(readFileSync(join(UPSTREAM_SANDBOX, 'pipelines.yaml'), 'utf8')) as Record<string, (string | { name: string; params?: Record<string, unknown> })[]>;
  for (const steps of Object.values(pipelines)) {
    for (const step of steps) {
      if (typeof step === 'object' && step.name === 'notabene' && step.params) {
        Object.assign(step.params, {
          host: firstUrl.hostname,
          port: Number(firstUrl.port || 5672),
          user: decodeURIComponent(firstUrl.username) || 'guest',
          password: decodeURIComponent(firstUrl.password) || 'guest',
          vhost: first.vhost,
          ...(state.layout.mode === 'shared' ? { exchange: sharedMonitor(state.layout.prefix).exchange, queue_name: sharedMonitor(state.layout.prefix).queue } : {}),
        });
      }
    }
  }
  writeFileSync(join(dir, 'pipelines.yaml'), `# Upstream's sandbox pipelines.yaml; notabene publishes to cell ${first.name}'s broker.\n${stringify(pipelines)}`);

  writeFileSync(
    join(dir, 'winchester.yaml'),
    `# The sandbox's winchester.yaml (spec §4.1), written by npm run sandbox.
# Definitions and triggers: upstream's sandbox files, found through config_path.
config_path:
  - ${dir}
  - ${UPSTREAM_SANDBOX}
statistics_period: 10
pipeline_worker_batch_size: 1000
pipeline_worker_delay: 10
catch_all_notifications: false
database:
  url: ${state.databaseUrl}
distiller_config: event_definitions.yaml
trigger_definitions: triggers.yaml
pipeline_config: pipelines.yaml
purge_completed_streams: false
# notigen's clock is simulated (faster than the wall clock): the yagi-workers post each
# event's time here and the pipeline workers fire and expire streams by it.
time_sync_endpoint: http://127.0.0.1:${state.timeSyncPort}
time_sync_poll_seconds: 1
pipeline_handlers:
  logger: winchester.pipeline_handler:LoggingHandler
  usage: winchester.pipeline_handler:UsageHandler
  notabene: winchester.pipeline_handler:NotabeneHandler
`,
  );

  for (const cell of state.layout.cells) {
    const u = new URL(cell.url);
    writeFileSync(
      join(dir, `yagi-${cell.name}.conf`),
      `# Cell ${cell.name}: its nova publishes to exchange ${cell.exchange} in vhost ${cell.vhost}.
[global]
cell = ${cell.name}

[rabbit_broker]
host = ${u.hostname}
port = ${u.port || 5672}
user = ${decodeURIComponent(u.username) || 'guest'}
password = ${decodeURIComponent(u.password) || 'guest'}
vhost = ${cell.vhost}
max_wait = 10

[consumers]
queues = ${cell.queue}

# As oslo.messaging declares it: topic exchange, non-durable queue.
[consumer:${cell.queue}]
apps = winchester.yagi_handler.WinchesterHandler
exchange = ${cell.exchange}
exchange_type = topic
routing_key = ${cell.queue}
durable = False
max_messages = 100

[winchester]
config_file = ${join(dir, 'winchester.yaml')}
`,
    );
  }

  const deployment = join(dir, 'deployment.yaml');
  writeFileSync(
    deployment,
    `# The sandbox's deployment file for ecosystem.config.js (written by npm run sandbox).
winchester_config: winchester.yaml
pipeline_workers: ${options.pipelineWorkers}
kill_timeout_seconds: 20
log_format: pretty
name_prefix: ${state.prefix}-
cells:
${state.layout.cells.map((c) => `  - {name: ${c.name}, yagi_config: yagi-${c.name}.conf}`).join('\n')}
api: {instances: 1, port: ${options.apiPort}, host: 127.0.0.1}
`,
  );

  const cli = join(ROOT, 'dist/cli/main.js');
  const common = { cwd: ROOT, exec_mode: 'fork', instances: 1, autorestart: true, exp_backoff_restart_delay: 1000, kill_timeout: 10_000, time: true, env: { NODE_ENV: 'production' } };
  const traffic = join(dir, 'traffic.config.json');
  writeFileSync(
    traffic,
    `${JSON.stringify(
      {
        apps: [
          { ...common, name: `${state.prefix}-time-sync`, script: cli, args: ['time-sync', '--port', String(state.timeSyncPort)] },
          ...state.layout.cells.map((c) => ({
            ...common,
            name: `${state.prefix}-notigen-${c.name}`,
            script: cli,
            // Fast mode (a simulated clock) at a modest rate: the first end-of-day .exists, which
            // make streams fire, come about half a simulated hour after the start.
            args: [
              'notigen',
              '--cell', `${c.name}=${c.url}`,
              '--exchange', c.exchange,
              '--routing-key', c.queue,
              '--seed', String(state.traffic.seeds[c.name]),
              '--start', state.traffic.start,
              '--rate', String(state.traffic.rate),
              '--ops-per-hour', String(state.traffic.opsPerHour),
              '--instances', String(state.traffic.instances),
              '--hours', String(24 * 365),
            ],
          })),
        ],
      },
      null,
      2,
    )}\n`,
  );
  return { deployment, traffic };
}
