/**
 * Small SQL helpers: multi-row INSERTs split so that no statement comes near the server's
 * max_allowed_packet (16 MiB by default; an oversized one would cost the connection).
 * (Prepared statements were measured too: no faster here, more CPU in Node.)
 */
import type { SqlValue } from 'mysql2';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { isTransientDbError } from './errors.js';

export type Queryable = Pick<PoolConnection, 'query'>;

const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;
const MAX_PLACEHOLDERS = 60_000; // mysql2 expands `?` client-side, but keep statements bounded anyway

/** `prefix` is e.g. "INSERT INTO t (a, b) VALUES"; every row has the same number of values. */
export async function insertRows(conn: Queryable, prefix: string, rows: readonly (readonly SqlValue[])[], suffix = ''): Promise<void> {
  if (rows.length === 0) return;
  const width = rows[0]!.length;
  const tuple = `(${'?,'.repeat(width - 1)}?)`;
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let bytes = 0;
    while (end < rows.length && (end === start || (bytes < MAX_STATEMENT_BYTES && (end - start + 1) * width <= MAX_PLACEHOLDERS))) {
      bytes += rowBytes(rows[end]!);
      end++;
    }
    const chunk = rows.slice(start, end);
    await conn.query(`${prefix} ${Array(chunk.length).fill(tuple).join(',')} ${suffix}`, chunk.flat());
    start = end;
  }
}

function rowBytes(row: readonly SqlValue[]): number {
  let n = 0;
  for (const v of row) n += typeof v === 'string' ? v.length * 3 : Buffer.isBuffer(v) ? v.length : 16;
  return n;
}

/** Runs fn in a transaction on conn: commit on success, rollback on error (false if that failed too). */
export async function inTransaction<T>(conn: PoolConnection, fn: () => Promise<T>): Promise<T> {
  await conn.beginTransaction();
  try {
    const result = await fn();
    await conn.commit();
    return result;
  } catch (err) {
    await conn.rollback().catch(() => {
      if (typeof err === 'object' && err !== null) (err as { rollbackFailed?: boolean }).rollbackFailed = true;
    });
    throw err;
  }
}

/**
 * A connection from the pool for one transaction. After an error that may have broken the
 * connection (killed, lost mid-statement), or when the rollback failed, it is thrown away
 * rather than pooled; after any other error it was rolled back cleanly and goes back.
 */
export async function withTransaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    const result = await inTransaction(conn, () => fn(conn));
    conn.release();
    return result;
  } catch (err) {
    if (isTransientDbError(err) || (err as { rollbackFailed?: boolean } | null)?.rollbackFailed) conn.destroy();
    else conn.release();
    throw err;
  }
}
