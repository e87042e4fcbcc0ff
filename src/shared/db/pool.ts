/**
 * The mysql2 pool every process uses. Datetimes travel as strings (`dateStrings`) so that
 * microseconds survive (JS Date has milliseconds only); the session is UTC and strict, so a
 * value MySQL would cut or coerce is an error instead, and READ COMMITTED.
 */
import { format, type SqlValue } from 'mysql2';
import { createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import type { DatabaseTarget } from '../config/database-url.js';

export type { Pool, PoolConnection } from 'mysql2/promise';

export interface PoolSettings {
  connectionLimit: number;
  /** Extra mysql2 options (tests use multipleStatements). */
  extra?: PoolOptions;
}

export function createDbPool(target: DatabaseTarget, settings: PoolSettings): Pool {
  const pool = createPool({
    ...target.options,
    connectionLimit: settings.connectionLimit,
    maxIdle: settings.connectionLimit,
    waitForConnections: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
    timezone: 'Z',
    charset: 'UTF8MB4_GENERAL_CI',
    connectTimeout: 10_000,
    enableKeepAlive: true,
    typeCast: varbinaryAsText,
    queryFormat: formatIfValues,
    ...settings.extra,
  });
  pool.pool.on('connection', (conn) => {
    conn.query("SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', innodb_lock_wait_timeout = 20");
    // No gap locks: concurrent batches that create different streams do not block each other.
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  });
  return pool;
}

/**
 * mysql2's own formatting, except that a statement without values is sent as it is: mysql2
 * scans every statement for `?` even then, which for our multi-row INSERTs (their literals
 * built by db/sql.ts) cost ~3% of the yagi-worker's CPU.
 */
function formatIfValues(sql: string, values: SqlValue | SqlValue[] | undefined, timezone?: Parameters<typeof format>[3]): string {
  if (values === undefined || (Array.isArray(values) && values.length === 0)) return sql;
  return format(sql, values, false, timezone);
}

function varbinaryAsText(field: { type: string }, next: () => unknown): unknown {
  const value = next();
  return field.type === 'VAR_STRING' && Buffer.isBuffer(value) ? value.toString('utf8') : value;
}
