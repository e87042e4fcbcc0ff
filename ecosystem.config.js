/**
 * pm2 process file: `pm2 start ecosystem.config.js` (then `pm2 logs`, `pm2 scale
 * pipeline-worker N`, `pm2 stop all`). The apps come from a deployment file, by default
 * etc/local/deployment.yaml, or the one STV3_DEPLOYMENT names:
 *
 *   winchester_config: /etc/stv3/winchester.yaml
 *   pipeline_workers: max            # or a number
 *   kill_timeout_seconds: 30
 *   cells:
 *     - {name: cell1, yagi_config: /etc/stv3/yagi-cell1.conf}
 *   api: {instances: 2, port: 8000, host: 127.0.0.1}   # optional; config defaults to winchester_config
 *   metrics_port_base: 9400          # optional: workers serve /metrics and /health on metrics_host:
 *                                    # yagi-<cell i> on base + i, pipeline-worker k on base + 100 + k
 *   metrics_host: 127.0.0.1          # optional: the address they listen on (default 127.0.0.1)
 *   log_format: pretty               # optional: json (default, for machines) or pretty (pino-pretty,
 *                                    # for people; passed to the apps as STV3_LOG_FORMAT)
 *   name_prefix: sandbox-            # optional: put before every app name (sandbox-yagi-cell1, …)
 *
 * `pipeline_workers: 0` runs none (an API-only host). Environment: STV3_ROOT names the release
 * directory the apps run from (default: this file's, with symlinks resolved; a deployment sets
 * it to /opt/stv3/current so that `pm2 reload` after a symlink flip runs the new release), and
 * STV3_LOG_DIR, when set, puts each app's stdout/stderr in <dir>/<app>.log / <app>.err.log.
 *
 * giving one `yagi-<cell>` app per cell (fork mode, one instance: a cell's queue is consumed by
 * one process) and `pipeline-worker` with one instance per core, and, when `api` is given, the
 * `api` app (cluster mode: its instances share the port; put the operators' load balancer in
 * front of the hosts). Every app tells pm2 when it is
 * ready (wait_ready), gets kill_timeout to shut down gracefully, and restarts with exponential
 * backoff so a dead database does not make pm2 spin.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = process.env.STV3_ROOT ? resolve(process.env.STV3_ROOT) : dirname(fileURLToPath(import.meta.url));
const logDir = process.env.STV3_LOG_DIR ? resolve(process.env.STV3_LOG_DIR) : null;
const logFiles = (name) => (logDir ? { out_file: `${logDir}/${name}.log`, error_file: `${logDir}/${name}.err.log`, merge_logs: true } : {});
const deploymentFile = resolve(process.env.STV3_DEPLOYMENT || resolve(root, 'etc/local/deployment.yaml'));

function fail(key, reason) {
  throw new Error(`${deploymentFile}: ${key ? `${key}: ` : ''}${reason}`);
}

if (!existsSync(deploymentFile)) fail('', 'file not found (set STV3_DEPLOYMENT)');
let deployment;
try {
  deployment = parse(readFileSync(deploymentFile, 'utf8')) ?? {};
} catch (err) {
  fail('', `not valid YAML: ${err.message}`);
}
if (typeof deployment !== 'object' || Array.isArray(deployment)) fail('', 'expected a mapping of keys');
const KEYS = ['winchester_config', 'pipeline_workers', 'kill_timeout_seconds', 'cells', 'api', 'metrics_port_base', 'metrics_host', 'log_format', 'name_prefix'];
for (const key of Object.keys(deployment)) if (!KEYS.includes(key)) fail(key, `unknown key; the keys are ${KEYS.join(', ')}`);
const base = dirname(deploymentFile);
const file = (key, value) => {
  if (typeof value !== 'string' || value === '') fail(key, 'required: a file path');
  const path = resolve(base, value);
  if (!existsSync(path)) fail(key, `${path} not found`);
  return path;
};

const winchester = file('winchester_config', deployment.winchester_config);
const workers = deployment.pipeline_workers ?? 'max';
if (workers !== 'max' && !(Number.isInteger(workers) && workers >= 0)) fail('pipeline_workers', 'a number of processes, or "max"');
const killSeconds = deployment.kill_timeout_seconds ?? 30;
if (typeof killSeconds !== 'number' || !(killSeconds > 0)) fail('kill_timeout_seconds', 'seconds (a number > 0; keep it above pipeline_shutdown_grace_seconds)');
const killTimeout = killSeconds * 1000;
const api = deployment.api;
if (api !== undefined && (api === null || typeof api !== 'object')) fail('api', 'a mapping {instances, port, host, config}');
if (api && !(api.instances === undefined || api.instances === 'max' || (Number.isInteger(api.instances) && api.instances >= 1))) fail('api.instances', 'a number of processes (≥ 1), or "max"');
if (api && !(api.port === undefined || (Number.isInteger(api.port) && api.port > 0 && api.port < 65536))) fail('api.port', 'a TCP port');
if (api && !(api.host === undefined || (typeof api.host === 'string' && api.host !== ''))) fail('api.host', 'an address to listen on');
if (!Array.isArray(deployment.cells)) fail('cells', 'required: a list of {name, yagi_config}');
const cellNames = new Set();
deployment.cells.forEach((cell, i) => {
  if (!cell || typeof cell.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(cell.name)) fail(`cells[${i}].name`, 'required: letters, digits, _ . -');
  // One process per cell: two apps on one queue would break its delivery order.
  if (cellNames.has(cell.name)) fail(`cells[${i}].name`, `duplicate cell ${JSON.stringify(cell.name)}`);
  cellNames.add(cell.name);
});
const metricsBase = deployment.metrics_port_base;
if (!(metricsBase === undefined || metricsBase === null || (Number.isInteger(metricsBase) && metricsBase > 0 && metricsBase + 200 < 65536))) fail('metrics_port_base', 'a TCP port (the workers use up to base + 200)');
const metrics = Number.isInteger(metricsBase);
const metricsHost = deployment.metrics_host ?? '127.0.0.1';
if (typeof metricsHost !== 'string' || metricsHost === '') fail('metrics_host', 'an address to listen on');
const metricsArgs = (port) => (metrics ? ['--metrics-port', String(port), '--metrics-host', metricsHost] : []);
const logFormat = deployment.log_format ?? 'json';
if (!['json', 'pretty'].includes(logFormat)) fail('log_format', 'json or pretty');
const prefix = deployment.name_prefix ?? '';
if (typeof prefix !== 'string' || !/^[A-Za-z0-9_.-]*$/.test(prefix)) fail('name_prefix', 'letters, digits, _ . -');

/**
 * V8 flags of the yagi-workers (bench/ingest.ts uses the same). A yagi-worker's live heap is
 * about 25 MB, but under a backlog V8 let the old space grow to several times that between
 * full collections (peak RSS ~158 MB): young generation capped at 4 MB semi-spaces, and the old
 * space allowed to double after each full collection rather than grow up to fourfold (peak
 * RSS ~115 MB, same CPU per notification; `npx tsx bench/ingest.ts --triggers`).
 */
const YAGI_NODE_ARGS = ['--max-semi-space-size=4', '--heap-growing-percent=100'];

const common = {
  cwd: root,
  exec_mode: 'fork',
  wait_ready: true,
  listen_timeout: 120_000,
  kill_timeout: killTimeout,
  exp_backoff_restart_delay: 500,
  time: false, // our JSON log lines carry their own time
  env: { NODE_ENV: 'production', STV3_LOG_FORMAT: logFormat },
};

const config = {
  apps: [
    ...deployment.cells.map((cell, i) => {
      return {
        ...common,
        name: `${prefix}yagi-${cell.name}`,
        script: resolve(root, 'dist/yagi-worker/main.js'),
        args: ['--config', file(`cells[${i}].yagi_config`, cell.yagi_config), '--cell', cell.name, ...metricsArgs(metricsBase + i)],
        instances: 1,
        // A 4 MiB young generation instead of V8's 16: ~20 MB less RSS at full ingest rate, the
        // same throughput (measured with bench/ingest.ts, which starts the worker with it too).
        node_args: YAGI_NODE_ARGS,
        ...logFiles(`${prefix}yagi-${cell.name}`),
      };
    }),
    // pm2 reads instances: 0 as "one per core": no worker means no app.
    ...(workers === 0
      ? []
      : [
          {
            ...common,
            name: `${prefix}pipeline-worker`,
            script: resolve(root, 'dist/pipeline-worker/main.js'),
            args: ['--config', winchester, ...(metrics ? ['--metrics-host', metricsHost] : [])],
            instances: workers === 'max' ? cpus().length : workers,
            merge_logs: true,
            ...logFiles(`${prefix}pipeline-worker`),
            // Each instance listens on base + 100 + NODE_APP_INSTANCE.
            ...(metrics ? { env: { ...common.env, STV3_METRICS_PORT_BASE: String(metricsBase + 100) } } : {}),
          },
        ]),
    ...(api
      ? [
          {
            ...common,
            name: `${prefix}api`,
            script: resolve(root, 'dist/api/main.js'),
            args: ['--config', api.config ? file('api.config', api.config) : winchester, '--port', String(api.port ?? 8000), '--host', api.host ?? '127.0.0.1'],
            instances: api.instances === 'max' ? cpus().length : (api.instances ?? 1),
            exec_mode: 'cluster',
            merge_logs: true,
            ...logFiles(`${prefix}api`),
          },
        ]
      : []),
  ],
};

export default config;
// pm2 loads this file with require(): Node gives it this export.
export { config as 'module.exports' };
