/**
 * Small SQL helpers: multi-row INSERTs split so that no statement comes near the server's
 * max_allowed_packet (16 MiB by default; one oversized statement would cost the connection).
 */
import { escape, type SqlValue } from 'mysql2';
import type { PoolConnection } from 'mysql2/promise';

export type Queryable = Pick<PoolConnection, 'query'>;

const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

/** `prefix` is e.g. "INSERT INTO t (a, b) VALUES"; each row is escaped here. */
export async function insertRows(conn: Queryable, prefix: string, rows: readonly (readonly SqlValue[])[], suffix = ''): Promise<void> {
  let chunk: string[] = [];
  let size = 0;
  for (const row of rows) {
    const tuple = `(${row.map((v) => escape(v)).join(',')})`;
    if (chunk.length > 0 && size + tuple.length > MAX_STATEMENT_BYTES) {
      await conn.query(`${prefix} ${chunk.join(',')} ${suffix}`);
      chunk = [];
      size = 0;
    }
    chunk.push(tuple);
    size += tuple.length + 1;
  }
  if (chunk.length > 0) await conn.query(`${prefix} ${chunk.join(',')} ${suffix}`);
}

/** Runs fn in a transaction on conn: commit on success, rollback (best effort) on error. */
export async function inTransaction<T>(conn: PoolConnection, fn: () => Promise<T>): Promise<T> {
  await conn.beginTransaction();
  try {
    const result = await fn();
    await conn.commit();
    return result;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw err;
  }
}
