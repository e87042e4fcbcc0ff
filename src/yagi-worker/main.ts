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
import { exitOnStartupError, handleSignals, notifyReady } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { IngestLane } from './batcher.js';
import { AmqpConsumer } from './consumer.js';
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
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: yagi-worker --config yagi-<cell>.conf [--config more.conf] [--cell NAME] [--no-migrate]\n');
    return;
  }
  let setup: IngestSetup;
  try {
    setup = loadIngestSetup(values.config ?? [], values.cell);
  } catch (err) {
    exitOnStartupError(err, 'yagi-worker');
  }
  const { yagi, winchester } = setup;
  const log = createLogger({ base: { app: 'yagi-worker', cell: yagi.cell }, level: winchester.raw.log_level });
  for (const w of setup.warnings) log.warn(w);
  await run(setup, log, !values['no-migrate']);
}

async function run(setup: IngestSetup, log: Logger, migrateFirst: boolean): Promise<void> {
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
  stats.onPeriod(() => logTriggerDebug(triggers, log.child({ component: 'triggers' })));
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
  });
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
    stats.stop();
    await clock.close();
    await consumer.close();
    await pool.end();
  };

  stats.start();
  await consumer.start();
  if (shutdown.stopSignal.aborted) return;
  notifyReady();
  log.info({ queues: yagi.consumers.map((c) => c.queue), triggers: triggers.map((t) => t.name), statisticsPeriod: statsPeriod, timeSync: winchester.raw.time_sync_endpoint ?? null }, 'yagi-worker started');
}

main().catch((err: unknown) => exitOnStartupError(err, 'yagi-worker'));
