/**
 * insertRows builds its statement text itself (src/shared/db/sql.ts sqlLiteral): every value
 * must come back from the server exactly as given, and long batches split into statements
 * that each stay under the packet limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertRows } from '../../src/shared/db/sql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url, { migrate: false });
  await db.pool.query('CREATE TABLE v (id INT PRIMARY KEY, s LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, b LONGBLOB, i BIGINT, f DOUBLE)');
});
afterAll(async () => db?.close());

describe('insertRows', () => {
  it('stores strings with every escaped character, JSON, Unicode, bytes, big integers and floats exactly', async () => {
    const strings = ["it's", 'back\\slash', 'nul\0byte', 'new\nline', 'cr\rlf', 'ctrl-z\x1a', '"quoted" {"a": "b\\"c"}', 'é 漢字 🚀', "'; DROP TABLE v; --", '\\\'', 'what? ?? ???', ''];
    const rows = strings.map((s, i) => [i, s, Buffer.from([0, 39, 92, 255, i]), 9_223_372_036_854_775_807n - BigInt(i), i + 0.5]);
    await insertRows(db.pool, 'INSERT INTO v (id, s, b, i, f) VALUES', rows);
    const [read] = await db.pool.query({ sql: 'SELECT id, s, b, CAST(i AS CHAR) AS i, f FROM v ORDER BY id', typeCast: true });
    const got = read as { id: number; s: string; b: Buffer; i: string; f: number }[];
    expect(got.map((r) => r.s)).toEqual(strings);
    expect(got.map((r) => [...r.b])).toEqual(strings.map((_, i) => [0, 39, 92, 255, i]));
    expect(got.map((r) => r.i)).toEqual(strings.map((_, i) => (9_223_372_036_854_775_807n - BigInt(i)).toString()));
    expect(got.map((r) => r.f)).toEqual(strings.map((_, i) => i + 0.5));
  });

  it('splits a large batch into several statements, each under the packet limit, losing no row', async () => {
    const big = 'x'.repeat(300_000);
    const rows = Array.from({ length: 40 }, (_, i) => [1000 + i, `${i}:${big}`, null, null, null]); // ~12 MB in all
    await insertRows(db.pool, 'INSERT INTO v (id, s, b, i, f) VALUES', rows);
    const [read] = await db.pool.query('SELECT COUNT(*) AS n, SUM(LENGTH(s)) AS bytes FROM v WHERE id >= 1000');
    const { n, bytes } = (read as { n: number; bytes: string }[])[0]!;
    expect(n).toBe(40);
    expect(Number(bytes)).toBe(rows.reduce((sum, r) => sum + String(r[1]).length, 0));
  });

  it('still fills placeholders when values are given (the pool sends a statement without values unscanned)', async () => {
    const [read] = await db.pool.query('SELECT ? AS s, ? AS n, COUNT(*) AS c FROM v WHERE id IN (?)', ["it's a '?'", 9_007_199_254_740_993n, [0, 1, 2]]);
    expect(read).toEqual([{ s: "it's a '?'", n: '9007199254740993', c: 3 }]);
  });

  it('refuses a non-finite number instead of sending it', async () => {
    await expect(insertRows(db.pool, 'INSERT INTO v (id, f) VALUES', [[5000, Number.NaN]])).rejects.toThrow(/NaN/);
  });
});
