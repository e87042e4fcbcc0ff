#!/usr/bin/env node
/**
 * `stv3`: the operators' command line.
 *
 *   stv3 migrate --config winchester.yaml [--status]   bring the schema up to date (idempotent,
 *                                                      safe while other processes run it) / show it
 *   stv3 streams retry --config winchester.yaml ID     error → retry_fire, expire_error → retry_expire
 *   stv3 time-sync [--port 8001] [--host 127.0.0.1]   the replay time service (time_sync_endpoint)
 */
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { loadWinchesterConfig, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { migrateDatabase } from '../shared/db/connect.js';
import { pendingMigrations } from '../shared/db/migrate.js';
import { exitOnStartupError } from '../shared/lifecycle.js';
import { createLogger } from '../shared/logger.js';
import { retryStream } from '../shared/streams/retry.js';
import { createTimeSyncServer } from './time-sync-server.js';

const USAGE = `usage:
  stv3 migrate --config winchester.yaml [--status]
  stv3 streams retry --config winchester.yaml STREAM_ID
  stv3 time-sync [--port 8001] [--host 127.0.0.1]
`;

function usage(): never {
  process.stderr.write(USAGE);
  process.exit(2);
}

function winchesterFrom(config: string | undefined): WinchesterConfig {
  if (!config) usage();
  try {
    return loadWinchesterConfig(config);
  } catch (err) {
    exitOnStartupError(err, 'stv3');
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      status: { type: 'boolean', default: false },
      port: { type: 'string', default: '8001' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const [command, sub, arg] = positionals;
  if (command === 'migrate') {
    const config = winchesterFrom(values.config);
    if (values.status) {
      const conn = await createConnection(config.database.options);
      const pending = await pendingMigrations(conn);
      await conn.end();
      process.stdout.write(pending.length === 0 ? `${config.database.display}: up to date\n` : `${config.database.display}: pending ${pending.map((m) => m.name).join(', ')}\n`);
      return;
    }
    const applied = await migrateDatabase(config.database, createLogger({ base: { app: 'stv3' } }));
    process.stdout.write(applied.length === 0 ? `${config.database.display}: already up to date\n` : `${config.database.display}: applied ${applied.join(', ')}\n`);
    return;
  }
  if (command === 'streams' && sub === 'retry') {
    const config = winchesterFrom(values.config);
    const id = Number(arg);
    if (!Number.isInteger(id) || id <= 0) usage();
    const conn = await createConnection(config.database.options);
    const state = await retryStream(conn, id);
    await conn.end();
    if (state === null) {
      process.stderr.write(`stream ${id}: not in error or expire_error (or no such stream); nothing done\n`);
      process.exit(1);
    }
    process.stdout.write(`stream ${id}: ${state}\n`);
    return;
  }
  if (command === 'time-sync') {
    const server = createTimeSyncServer();
    server.listen(Number(values.port), values.host, () => process.stdout.write(`time-sync listening on http://${values.host}:${values.port}/time\n`));
    return;
  }
  usage();
}

main().catch((err: unknown) => exitOnStartupError(err, 'stv3'));
