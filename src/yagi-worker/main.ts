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
import { exitOnStartupError, handleSignals, notifyReady } from '../shared/lifecycle.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { Batcher } from './batcher.js';
import { AmqpConsumer } from './consumer.js';
import { Ingestor } from './ingest.js';
import { loadIngestSetup, type IngestSetup } from './setup.js';
import { IngestStats } from './stats.js';
import { EventTimeClock, wallClock } from '../shared/time-sync.js';
import { logTriggerDebug } from '../shared/triggers/debug-log.js';

/** Batches committing at once per queue (each on its own connection). */
const MAX_IN_FLIGHT = 2;

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
  const pool = await openDatabase(winchester.database, yagi.consumers.length * MAX_IN_FLIGHT + 1, log.child({ component: 'db' }), startup.signal);

  const statsPeriod = winchester.raw.statistics_period;
  const stats = new IngestStats(log.child({ component: 'stats' }), statsPeriod);
  const ingestor = new Ingestor({
    pool,
    distiller,
    cell: yagi.cell,
    maxBodyBytes: Math.min(...yagi.consumers.map((c) => c.maxBodyBytes)),
    indexedTraits: new Set(winchester.raw.indexed_traits),
    log: log.child({ component: 'ingest' }),
    triggers,
    clock: winchester.raw.time_sync_endpoint ? new EventTimeClock(winchester.raw.time_sync_endpoint, log.child({ component: 'time-sync' })) : wallClock,
  });
  stats.onPeriod(() => logTriggerDebug(triggers, log.child({ component: 'triggers' })));
  const batchers = new Map<string, Batcher>();
  const consumer: AmqpConsumer = new AmqpConsumer({
    broker: yagi.broker,
    consumers: yagi.consumers,
    log: log.child({ component: 'consumer' }),
    connectionName: `stv3 yagi-worker ${yagi.cell} pid ${process.pid}`,
    onDelivery: (d) => batchers.get(d.queue)!.push(d),
  });
  for (const c of yagi.consumers) {
    batchers.set(
      c.queue,
      new Batcher({
        consumer: c,
        ingestor,
        stats,
        log: log.child({ component: 'batcher', queue: c.queue }),
        maxInFlight: MAX_IN_FLIGHT,
        ack: (d) => consumer.ack(d),
        forceSignal: shutdown.forceSignal,
      }),
    );
  }

  stopAll = async () => {
    startup.abort();
    await consumer.stopConsuming();
    await Promise.all([...batchers.values()].map((b) => b.drain()));
    stats.stop();
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
