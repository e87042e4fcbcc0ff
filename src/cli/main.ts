#!/usr/bin/env node
/**
 * `stv3`: the operators' command line.
 *
 *   stv3 migrate --config winchester.yaml     bring the schema up to date (idempotent; safe
 *                                             while other processes run it too)
 *   stv3 migrate --config winchester.yaml --status
 *                                             list applied and pending migrations
 */
import { parseArgs } from 'node:util';
import { loadWinchesterConfig } from '../shared/config/winchester-conf.js';
import { migrateDatabase } from '../shared/db/connect.js';
import { pendingMigrations } from '../shared/db/migrate.js';
import { createConnection } from 'mysql2/promise';
import { exitOnStartupError } from '../shared/lifecycle.js';
import { createLogger } from '../shared/logger.js';

const USAGE = `usage: stv3 migrate --config winchester.yaml [--status]
`;

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, status: { type: 'boolean', default: false } },
  });
  if (command !== 'migrate' || !values.config) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  let config;
  try {
    config = loadWinchesterConfig(values.config);
  } catch (err) {
    exitOnStartupError(err, 'stv3');
  }
  if (values.status) {
    const conn = await createConnection(config.database.options);
    const pending = await pendingMigrations(conn);
    await conn.end();
    process.stdout.write(pending.length === 0 ? `${config.database.display}: up to date\n` : `${config.database.display}: pending ${pending.map((m) => m.name).join(', ')}\n`);
    return;
  }
  const log = createLogger({ base: { app: 'stv3' } });
  const applied = await migrateDatabase(config.database, log);
  process.stdout.write(applied.length === 0 ? `${config.database.display}: already up to date\n` : `${config.database.display}: applied ${applied.join(', ')}\n`);
}

main().catch((err: unknown) => exitOnStartupError(err, 'stv3'));
