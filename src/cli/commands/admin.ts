/**
 * Database administration verbs that work on winchester.yaml's database directly:
 *   stv3 migrate --config winchester.yaml [--status]
 *   stv3 time-sync [--port 8001] [--host 127.0.0.1]
 */
import type { Command } from 'commander';
import { createConnection } from 'mysql2/promise';
import { loadWinchesterConfig } from '../../shared/config/winchester-conf.js';
import { migrateDatabase } from '../../shared/db/connect.js';
import { pendingMigrations } from '../../shared/db/migrate.js';
import { createLogger } from '../../shared/logger.js';
import { createTimeSyncServer } from '../time-sync-server.js';

export function registerAdmin(program: Command): void {
  program
    .command('migrate')
    .description('apply the numbered SQL files in migrations/ (idempotent, safe when several processes run them at once)')
    .requiredOption('-c, --config <file>', 'winchester.yaml naming the database')
    .option('--status', 'list what is pending instead of applying it')
    .action(async (opts: { config: string; status?: boolean }) => {
      const config = loadWinchesterConfig(opts.config);
      if (opts.status) {
        const conn = await createConnection(config.database.options);
        try {
          const pending = await pendingMigrations(conn);
          process.stdout.write(pending.length === 0 ? `${config.database.display}: up to date\n` : `${config.database.display}: pending ${pending.map((m) => m.name).join(', ')}\n`);
        } finally {
          await conn.end();
        }
        return;
      }
      const applied = await migrateDatabase(config.database, createLogger({ base: { app: 'stv3' } }));
      process.stdout.write(applied.length === 0 ? `${config.database.display}: already up to date\n` : `${config.database.display}: applied ${applied.join(', ')}\n`);
    });

  program
    .command('time-sync')
    .description("the replay time service for winchester.yaml's time_sync_endpoint (upstream's notigen time_sync.py)")
    .option('--port <port>', 'port to listen on', '8001')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      const server = createTimeSyncServer();
      await new Promise<void>((resolve) => server.listen(Number(opts.port), opts.host, resolve));
      process.stdout.write(`time-sync listening on http://${opts.host}:${opts.port}/time\n`);
      await new Promise(() => undefined); // serves until killed
    });
}
