#!/usr/bin/env node
/**
 * pipeline-worker: claims streams that are due to fire or expire and runs their pipelines
 * (pm2 app `pipeline-worker`, one instance per core; any number of them on any number of hosts
 * share one database).
 *
 *   node dist/pipeline-worker/main.js --config /etc/stv3/winchester.yaml [--name NAME] [--no-migrate]
 *                                     [--metrics-port N [--metrics-host ADDR]]
 *
 * Start order: configuration (exit 1 naming file, key and reason), database, then the loop;
 * pm2 gets `ready` once connected. SIGINT/SIGTERM: claim nothing new, finish the streams in
 * hand within pipeline_shutdown_grace_seconds, give the rest back, exit.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { migrateDatabase, openDatabase } from '../shared/db/connect.js';
import { PIPELINE_WORKER_NEEDS, TRIM_NEEDS, unionOfNeeds } from '../shared/db/server-check.js';
import { retentionPolicyFrom } from '../shared/store/retention.js';
import { Trimmer } from './trimmer.js';
import { ConfigError } from '../shared/errors.js';
import { exitOnStartupError, handleReload, handleSignals, notifyReady } from '../shared/lifecycle.js';
import { createLogger } from '../shared/logger.js';
import { logTriggerDebug } from '../shared/triggers/debug-log.js';
import { TimeSyncClock, wallPipelineClock } from '../shared/time-sync.js';
import { closeNotabeneConnections } from './handlers/notabene.js';
import { loadPipelineSetup, type PipelineSetup } from './setup.js';
import { emptyWorkerCounts, PipelineWorker } from './worker.js';
import { PipelineMetrics } from './metrics.js';
import { Registry } from 'prom-client';
import { metricsPort, startMetricsServer } from '../shared/metrics-server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      name: { type: 'string', short: 'n' },
      'no-migrate': { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
    },
  });
  const name = values.name ?? `pipeline-worker-${process.env['NODE_APP_INSTANCE'] ?? process.pid}`;
  const log = createLogger({ base: { app: 'pipeline-worker', worker: name } });
  let setup: PipelineSetup;
  let metricsAt: number | null;
  try {
    metricsAt = metricsPort(values['metrics-port']);
    if (!values.config) throw new ConfigError('(command line)', '--config', 'required: the winchester.yaml to run');
    setup = await loadPipelineSetup(values.config, log.child({ component: 'setup' }));
  } catch (err) {
    exitOnStartupError(err, 'pipeline-worker');
  }
  const { winchester, triggers, pipelines } = setup;
  const raw = winchester.raw;
  log.level = (process.env['STV3_LOG_LEVEL'] ?? raw.log_level).toLowerCase();
  for (const w of [...winchester.warnings, ...triggers.flatMap((t) => t.warnings)]) log.warn(w);

  const startup = new AbortController();
  let stopAll: () => Promise<void> = async () => startup.abort();
  const shutdown = handleSignals(log, () => stopAll());
  if (!values['no-migrate']) await migrateDatabase(winchester.database, log.child({ component: 'migrate' }), startup.signal);
  // Claims, the outcome writer, lease renewals, the reaper and the trimmer may each hold one at once.
  const pool = await openDatabase(winchester.database, raw.trim_events ? 6 : 5, log.child({ component: 'db' }), startup.signal, {
    skipLocked: raw.pipeline_claim_strategy === 'skip_locked',
    privileges: raw.trim_events ? unionOfNeeds(PIPELINE_WORKER_NEEDS, TRIM_NEEDS) : PIPELINE_WORKER_NEEDS,
  });
  const trimmer = raw.trim_events
    ? new Trimmer({
        pool,
        policy: retentionPolicyFrom(raw),
        intervalSeconds: raw.trim_interval_seconds,
        batchSize: raw.trim_events_batch_size,
        maxSeconds: raw.trim_max_seconds,
        pauseMs: raw.trim_pause_ms,
        log: log.child({ component: 'trimmer' }),
      })
    : null;

  const owner = `${hostname()}/${name}/${process.pid}`;
  const registry = new Registry();
  const metrics = metricsAt === null ? undefined : new PipelineMetrics(registry);
  const endpoint = metricsAt === null ? null : await startMetricsServer(metricsAt, values['metrics-host'], { app: 'pipeline-worker', worker: name }, () => null, log.child({ component: 'metrics' }), registry);
  const worker = new PipelineWorker({
    pool,
    triggers,
    pipelines,
    clock: raw.time_sync_endpoint ? new TimeSyncClock(raw.time_sync_endpoint, raw.time_sync_poll_seconds, log.child({ component: 'time-sync' })) : wallPipelineClock,
    log: log.child({ component: 'worker' }),
    owner,
    batchSize: raw.pipeline_worker_batch_size,
    chunkSize: Math.min(raw.pipeline_worker_batch_size, 100),
    pollMs: Math.min(raw.pipeline_worker_poll_ms, raw.pipeline_worker_delay * 1000),
    leaseSeconds: raw.pipeline_lease_seconds,
    maxAttempts: raw.pipeline_max_attempts,
    errorRetries: raw.pipeline_error_retries,
    errorRetryBaseSeconds: raw.pipeline_error_retry_seconds,
    purgeCompleted: raw.purge_completed_streams,
    strategy: raw.pipeline_claim_strategy,
    indexedTraits: new Set(raw.indexed_traits),
    shutdownGraceMs: raw.pipeline_shutdown_grace_seconds * 1000,
    forceSignal: shutdown.forceSignal,
    metrics,
  });

  const statsLog = log.child({ component: 'stats' });
  const logStats = (): void => {
    const c = worker.counts;
    statsLog.info({ ...c }, `Loaded ${c.loaded} streams. Fired ${c.fired}, Expired ${c.expired}, errors ${c.errors}, lease expiries ${c.leaseExpiries}`);
    Object.assign(c, emptyWorkerCounts());
    logTriggerDebug(worker.debuggers.map((d) => ({ name: d.name, debug: d })), log.child({ component: 'triggers' }));
  };
  const timer = setInterval(logStats, raw.statistics_period * 1000);
  timer.unref();

  stopAll = async () => {
    startup.abort();
    await trimmer?.stop();
    await worker.stop();
    clearInterval(timer);
    logStats();
    await closeNotabeneConnections();
    await endpoint?.close();
    await pool.end();
  };
  handleReload(log.child({ component: 'reload' }), async () => {
    const fresh = await loadPipelineSetup(setup.winchester.file, log.child({ component: 'setup' }));
    worker.reconfigure(fresh.triggers, fresh.pipelines);
    return `${fresh.triggers.length} triggers and ${fresh.pipelines.size} pipelines; other settings need a restart`;
  });
  const running = worker.start();
  trimmer?.start();
  notifyReady();
  log.info({ owner, triggers: triggers.map((t) => t.name), pipelines: [...pipelines.keys()], strategy: raw.pipeline_claim_strategy, timeSync: raw.time_sync_endpoint ?? null }, 'pipeline-worker started');
  await running;
}

main().catch((err: unknown) => exitOnStartupError(err, 'pipeline-worker'));
