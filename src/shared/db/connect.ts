/**
 * Start-up database work common to every process: open the pool and bring the schema up to
 * date (migrations are idempotent and serialised, so every process may run them).
 */
import { createConnection, type Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { DatabaseTarget } from '../config/database-url.js';
import { migrate } from './migrate.js';
import { createDbPool, type Pool } from './pool.js';
import { retryTransient } from './retry.js';
import { checkServer, type ServerRequirements } from './server-check.js';

export async function migrateDatabase(target: DatabaseTarget, log: Logger, signal?: AbortSignal): Promise<string[]> {
  return retryTransient(
    'migrate',
    async () => {
      const conn = await connectCreatingDatabase(target, log);
      try {
        return await migrate(conn, log);
      } finally {
        await conn.end().catch(() => undefined);
      }
    },
    log,
    signal,
  );
}

/**
 * A pool on the database, once it answers (retried while it does not), checked against what
 * the process needs (server-check.ts: throws ServerCheckError naming what is missing).
 */
export async function openDatabase(target: DatabaseTarget, connectionLimit: number, log: Logger, signal?: AbortSignal, requirements?: ServerRequirements): Promise<Pool> {
  const pool = createDbPool(target, { connectionLimit });
  try {
    const server = await retryTransient('connect', async () => (requirements ? checkServer(pool, requirements) : pool.query('SELECT 1').then(() => null)), log, signal);
    log.info({ database: target.display, server: server?.version }, 'database connected');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}

/** Connects for migrations; a database that does not exist yet is created (if the user may). */
async function connectCreatingDatabase(target: DatabaseTarget, log: Logger): Promise<Connection> {
  const options = { ...target.options, multipleStatements: true, connectTimeout: 10_000 };
  try {
    return await createConnection(options);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ER_BAD_DB_ERROR') throw err;
  }
  const admin = await createConnection({ ...options, database: undefined });
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${String(target.options.database).replace(/`/g, '``')}\` CHARACTER SET utf8mb4`);
    log.info({ database: target.display }, 'created the database');
  } finally {
    await admin.end().catch(() => undefined);
  }
  return createConnection(options);
}
