/**
 * The blame table (src/shared/db/errors.ts, invariant 11), entry by entry: every key is one
 * mysql2 or the server really uses, and the errors a real MariaDB raises for bad values, taken
 * unique keys, lock trouble, killed queries and missing grants land in the class the ingest
 * transaction acts on.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyDbError, DB_ERROR_TABLE, type DbErrorClass } from '../../src/shared/db/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// mysql2's own name → errno map (not in its package exports, so by path).
const MYSQL2_ERRORS = createRequire(import.meta.url)(resolve('node_modules/mysql2/lib/constants/errors.js')) as Record<string, number>;
// Codes mysql2 sets on client-side errors: its protocol codes and Node's system error codes.
const CLIENT_CODES = /^(PROTOCOL_[A-Z_]+|E[A-Z_]+)$/;

let db: TestDatabase;
const open: Connection[] = [];

async function connection(): Promise<Connection> {
  const conn = await createConnection({ ...db.target.options, multipleStatements: true });
  await conn.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'");
  open.push(conn);
  return conn;
}

async function errorOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (err) {
    return err;
  }
  throw new Error('expected the statement to fail');
}

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url, { migrate: false });
  const conn = await connection();
  await conn.query(
    'CREATE TABLE t (id INT PRIMARY KEY, j JSON, i BIGINT, d DATETIME(6), v VARCHAR(2), n INT NOT NULL DEFAULT 0, s VARCHAR(10) CHARACTER SET utf8mb4) ENGINE=InnoDB; INSERT INTO t (id) VALUES (1), (2)',
  );
});

afterAll(async () => {
  for (const c of open) await c.end().catch(() => c.destroy());
  await db?.close();
});

describe('the blame table', () => {
  it.each(DB_ERROR_TABLE.map(([key, cls, meaning]) => [String(key), cls, meaning, key] as const))('%s is %s (%s)', (_name, cls, _meaning, key) => {
    if (typeof key === 'string') {
      // A misspelt name would never match anything: it must be one mysql2 really sets.
      if (!CLIENT_CODES.test(key)) expect(MYSQL2_ERRORS[key], `${key} is not a mysql2 error name`).toBeTypeOf('number');
      const errno = MYSQL2_ERRORS[key];
      expect(classifyDbError(Object.assign(new Error(key), { code: key, ...(errno ? { errno } : {}) }))).toBe(cls);
    } else {
      // Numbers are for server codes mysql2 has no name for: the error then carries only errno.
      expect(classifyDbError(Object.assign(new Error(String(key)), { code: 'UNKNOWN_CODE_PLEASE_REPORT', errno: key }))).toBe(cls);
    }
  });

  it('anything else is infrastructure: unknown codes, plain errors, non-errors', () => {
    expect(classifyDbError(Object.assign(new Error('disk full'), { code: 'ER_RECORD_FILE_FULL', errno: 1114 }))).toBe('infrastructure');
    expect(classifyDbError(new Error('boom'))).toBe('infrastructure');
    expect(classifyDbError('boom')).toBe('infrastructure');
    expect(classifyDbError(null)).toBe('infrastructure');
  });
});

describe('real MariaDB errors', () => {
  const cases: [string, DbErrorClass, string][] = [
    ['a string longer than its column', 'content', "INSERT INTO t (id, v) VALUES (10, 'abc')"],
    ['an invalid datetime', 'content', "INSERT INTO t (id, d) VALUES (11, '2015-13-45 99:00:00')"],
    ['bytes that are not utf8mb4', 'content', "INSERT INTO t (id, s) VALUES (12, X'ff41')"],
    ['text in an integer column', 'content', "INSERT INTO t (id, n) VALUES (13, 'abc')"],
    ['an integer beyond BIGINT', 'content', 'INSERT INTO t (id, i) VALUES (14, 99999999999999999999)'],
    ['NULL in a NOT NULL column', 'content', 'INSERT INTO t (id, n) VALUES (15, NULL)'],
    ['invalid JSON (MariaDB checks JSON columns with a CHECK constraint)', 'content', "INSERT INTO t (id, j) VALUES (16, '{bad')"],
    ['a unique key another process took', 'conflict', 'INSERT INTO t (id) VALUES (1)'],
    ['a table that is not there (schema drift)', 'infrastructure', 'INSERT INTO missing_table VALUES (1)'],
  ];
  it.each(cases)('%s: %s', async (_what, cls, sql) => {
    const conn = await connection();
    expect(classifyDbError(await errorOf(conn.query(sql)))).toBe(cls);
  });

  it('a lock held too long, and a deadlock, are transient', async () => {
    const [a, b] = [await connection(), await connection()];
    await b.query('SET SESSION innodb_lock_wait_timeout = 1');
    await a.query('BEGIN');
    await a.query('UPDATE t SET n = n + 1 WHERE id = 1');
    expect(classifyDbError(await errorOf(b.query('UPDATE t SET n = n + 1 WHERE id = 1')))).toBe('transient');
    await a.query('ROLLBACK');

    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE t SET n = n + 1 WHERE id = 1');
    await b.query('UPDATE t SET n = n + 1 WHERE id = 2');
    const first = a.query('UPDATE t SET n = n + 1 WHERE id = 2').catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 200));
    const second = await b.query('UPDATE t SET n = n + 1 WHERE id = 1').catch((err: unknown) => err);
    const outcomes = [await first, second];
    const victim = outcomes.find((o) => o instanceof Error);
    expect(victim).toBeDefined();
    expect(classifyDbError(victim)).toBe('transient');
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');
  });

  it('a killed query and a killed connection are transient', async () => {
    const [victim, killer, holder] = [await connection(), await connection(), await connection()];
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM t WHERE id = 2 FOR UPDATE');
    const running = errorOf(victim.query('SELECT * FROM t WHERE id = 2 FOR UPDATE'));
    await new Promise((r) => setTimeout(r, 300));
    await killer.query(`KILL QUERY ${victim.threadId}`);
    const interrupted = await running;
    expect(interrupted).toMatchObject({ errno: 1317 });
    expect(classifyDbError(interrupted)).toBe('transient');
    await holder.query('ROLLBACK');

    await killer.query(`KILL ${victim.threadId}`);
    await new Promise((r) => setTimeout(r, 200));
    expect(classifyDbError(await errorOf(victim.query('SELECT 1')))).toBe('transient');
  });

  it('a server that is not listening is transient; a missing grant is infrastructure', async () => {
    const refused = await errorOf(createConnection({ host: '127.0.0.1', port: 1, connectTimeout: 2000 }));
    expect(classifyDbError(refused)).toBe('transient');

    const user = `stv3_err_${process.pid}`;
    const admin = await connection();
    await admin.query(`DROP USER IF EXISTS '${user}'@'%'; CREATE USER '${user}'@'%'; GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`);
    try {
      const limited = await createConnection({ ...db.target.options, user, password: '' });
      open.push(limited);
      expect(classifyDbError(await errorOf(limited.query('INSERT INTO t (id) VALUES (99)')))).toBe('infrastructure');
    } finally {
      await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
    }
  });
});
