#!/usr/bin/env node
/**
 * yagi-worker: one process per cell (pm2 app `yagi-<cell>`), single-threaded. Takes the
 * cell's RabbitMQ notifications into MySQL (see ingest.ts for the transaction and consumer.ts
 * for the broker side).
 *
 *   node dist/yagi-worker/main.js --config /etc/stv3/yagi-cell1.conf [--config more.conf]
 *                                 [--cell NAME] [--no-migrate]
 *
 * Start order: every config file is read and validated (exit 1 naming file, key and reason,
 * before any connection), then the database (migrated unless --no-migrate), then the broker;
 * pm2 gets `ready` once consuming. Stop order is the reverse.
 */
import { parseArgs } from 'node:util';
import { migrateDatabase, openDatabase } from '../shared/db/connect.js';
import { YAGI_WORKER_NEEDS } from '../shared/db/server-check.js';
import { exitOnStartupError, handleReload, handleSignals, notifyReady } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { IngestLane } from './batcher.js';
import { IngestMetrics } from './metrics.js';
import { Registry } from 'prom-client';
import { metricsPort, startMetricsServer, type MetricsEndpoint } from '../shared/metrics-server.js';
import { AmqpConsumer } from './consumer.js';
import { RawArchive } from './archive.js';
import { Ingestor } from './ingest.js';
import { loadIngestSetup, type IngestSetup } from './setup.js';
import { IngestStats } from './stats.js';
import { EventTimeClock, wallIngestClock } from '../shared/time-sync.js';
import { logTriggerDebug } from '../shared/triggers/debug-log.js';

/** Batches in the database at once (each on its own connection; see batcher.ts). */
const MAX_IN_FLIGHT = 2;
/** Under backlog a batch may grow to this many times max_messages. */
const BACKLOG_BATCH_FACTOR = 4;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c', multiple: true },
      cell: { type: 'string' },
      'no-migrate': { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: yagi-worker --config yagi-<cell>.conf [--config more.conf] [--cell NAME] [--no-migrate] [--metrics-port N [--metrics-host ADDR]]\n');
    return;
  }
  let setup: IngestSetup;
  let metrics: { port: number; host: string } | null;
  try {
    setup = loadIngestSetup(values.config ?? [], values.cell);
    const port = metricsPort(values['metrics-port']);
    metrics = port === null ? null : { port, host: values['metrics-host'] };
  } catch (err) {
    exitOnStartupError(err, 'yagi-worker');
  }
  const { yagi, winchester } = setup;
  const log = createLogger({ base: { app: 'yagi-worker', cell: yagi.cell }, level: winchester.raw.log_level });
  for (const w of setup.warnings) log.warn(w);
  await run(setup, values.config ?? [], log, !values['no-migrate'], metrics);
}

async function run(setup: IngestSetup, configFiles: readonly string[], log: Logger, migrateFirst: boolean, metricsAt: { port: number; host: string } | null): Promise<void> {
  const { yagi, winchester, distiller, triggers } = setup;
  const startup = new AbortController();
  let stopAll: () => Promise<void> = async () => startup.abort();
  const shutdown = handleSignals(log, () => stopAll());

  if (migrateFirst) await migrateDatabase(winchester.database, log.child({ component: 'migrate' }), startup.signal);
  const pool = await openDatabase(winchester.database, MAX_IN_FLIGHT + 2, log.child({ component: 'db' }), startup.signal, { skipLocked: false, privileges: YAGI_WORKER_NEEDS });

  const statsPeriod = winchester.raw.statistics_period;
  const stats = new IngestStats(log.child({ component: 'stats' }), statsPeriod);
  const clock = winchester.raw.time_sync_endpoint ? new EventTimeClock(winchester.raw.time_sync_endpoint, log.child({ component: 'time-sync' })) : wallIngestClock;
  const consumers = yagi.consumers;
  const ingestor = new Ingestor({
    pool,
    distiller,
    cell: yagi.cell,
    maxBodyBytes: Math.min(...consumers.map((c) => c.maxBodyBytes)),
    maxAttempts: Math.min(...consumers.map((c) => c.maxAttempts)),
    indexedTraits: new Set(winchester.raw.indexed_traits),
    log: log.child({ component: 'ingest' }),
    triggers,
    clock,
  });
  stats.onPeriod(() => logTriggerDebug(ingestor.triggers, log.child({ component: 'triggers' })));
  handleReload(log.child({ component: 'reload' }), () => {
    const fresh = loadIngestSetup(configFiles, yagi.cell);
    ingestor.reconfigure(fresh.distiller, fresh.triggers);
    for (const w of fresh.warnings) log.warn(w);
    return `event definitions and ${fresh.triggers.length} triggers (${fresh.triggers.map((t) => t.name).join(', ')}); other settings need a restart`;
  });
  let metrics: IngestMetrics | null = null;
  // The raw archive (ShoeboxHandler): leftovers of an earlier run are rolled before consuming.
  const archive = yagi.archive ? new RawArchive(yagi.archive, yagi.cell, log.child({ component: 'archive' })) : null;
  archive?.start();
  // One lane for every queue of the cell, so events reach the streams in delivery order.
  const batchSize = Math.min(...consumers.map((c) => c.maxMessages));
  const lane: IngestLane = new IngestLane({
    ingestor,
    stats,
    clock,
    log: log.child({ component: 'lane' }),
    batchSize,
    maxBatchSize: batchSize * BACKLOG_BATCH_FACTOR,
    batchTimeoutMs: Math.min(...consumers.map((c) => c.batchTimeoutMs)),
    maxInFlight: MAX_IN_FLIGHT,
    ack: (d, count) => consumer.ack(d, count),
    forceSignal: shutdown.forceSignal,
    onBatch: (counts, seconds) => metrics?.batch(counts, seconds),
    // Events and unmatched notifications were decoded by ingest; the archive decodes only poison.
    afterCommit: archive ? (batch) => archive.append(batch.map((p) => ({ ...p.raw, decoded: p.kind !== 'poison' }))) : undefined,
  });
  let endpoint: MetricsEndpoint | null = null;
  if (metricsAt) {
    const registry = new Registry();
    metrics = new IngestMetrics(registry, ingestor.health, () => lane.depth);
    const health = (): string | null => {
      if (ingestor.health.blockedBy !== null) return `ingest paused: the database refuses writes (${ingestor.health.blockedBy})`;
      if (lane.archiveBlockedBy !== null) return `acks held: the raw archive cannot be written (${lane.archiveBlockedBy})`;
      return null;
    };
    endpoint = await startMetricsServer(metricsAt.port, metricsAt.host, { app: 'yagi-worker', cell: yagi.cell }, health, log.child({ component: 'metrics' }), registry);
  }
  const consumer: AmqpConsumer = new AmqpConsumer({
    broker: yagi.broker,
    consumers,
    log: log.child({ component: 'consumer' }),
    connectionName: `stv3 yagi-worker ${yagi.cell} pid ${process.pid}`,
    onDelivery: (d) => lane.push(d),
  });

  stopAll = async () => {
    startup.abort();
    await consumer.stopConsuming();
    await lane.drain();
    archive?.close();
    stats.stop();
    await clock.close();
    await consumer.close();
    await endpoint?.close();
    await pool.end();
  };

  stats.start();
  await consumer.start();
  if (shutdown.stopSignal.aborted) return;
  notifyReady();
  log.info({ queues: yagi.consumers.map((c) => c.queue), triggers: triggers.map((t) => t.name), statisticsPeriod: statsPeriod, timeSync: winchester.raw.time_sync_endpoint ?? null, archive: yagi.archive?.destinationFolder ?? null }, 'yagi-worker started');
}

main().catch((err: unknown) => exitOnStartupError(err, 'yagi-worker'));
