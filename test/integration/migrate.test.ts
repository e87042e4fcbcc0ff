/**
 * Migrations: applied once, in order, idempotent, and safe when several processes run them at
 * the same moment (GET_LOCK serialises them; MySQL DDL cannot be rolled back).
 */
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { listMigrations, migrate, pendingMigrations } from '../../src/shared/db/migrate.js';
import { count, createTestDatabase } from '../helpers/db.js';

describe('migrate', () => {
  it('applies every migration exactly once when three processes migrate at once, then nothing', async () => {
    const db = await createTestDatabase(import.meta.url, { migrate: false });
    try {
      const conns = await Promise.all([1, 2, 3].map(() => createConnection({ ...db.target.options, multipleStatements: true })));
      const results = await Promise.all(conns.map((c) => migrate(c)));
      const all = listMigrations().map((m) => m.name);
      expect(results.flat().sort()).toEqual(all.sort());
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM stv3_schema_migrations')).toBe(all.length);
      expect(await migrate(conns[0]!)).toEqual([]);
      expect(await pendingMigrations(conns[0]!)).toEqual([]);
      for (const c of conns) await c.end();
      // The schema is usable: the tables ingest writes exist.
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event')).toBe(0);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(0);
    } finally {
      await db.close();
    }
  });
});
