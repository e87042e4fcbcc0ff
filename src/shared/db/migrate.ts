/**
 * Numbered SQL migrations (migrations/NNNN_name.sql, append-only), applied in order and
 * recorded in stv3_schema_migrations. MySQL DDL commits implicitly, so two processes
 * migrating at once are serialised with GET_LOCK instead of a transaction, and every
 * statement is written to be safe to run again (IF NOT EXISTS) should a migration be cut short.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));
const LOCK_NAME = 'stv3_migrate';
const LOCK_WAIT_SECONDS = 120;

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql: readFileSync(`${dir}/${f}`, 'utf8') }));
}

/**
 * Applies what is missing; returns the names applied. `conn` must allow multipleStatements.
 * When nothing is pending it runs no DDL at all, so workers whose user may not create or alter
 * tables start against a schema an administrator migrated (`stv3 migrate`).
 */
export async function migrate(conn: Connection, log?: Logger): Promise<string[]> {
  if ((await pendingMigrations(conn)).length === 0) return [];
  const [lockRows] = await conn.query('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_SECONDS]);
  if ((lockRows as { got: number | null }[])[0]?.got !== 1) {
    throw new Error(`could not take the migration lock "${LOCK_NAME}" within ${LOCK_WAIT_SECONDS}s (another migrate is stuck?)`);
  }
  try {
    await conn.query(
      'CREATE TABLE IF NOT EXISTS stv3_schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB',
    );
    const [rows] = await conn.query('SELECT version FROM stv3_schema_migrations');
    const applied = new Set((rows as { version: number }[]).map((r) => r.version));
    const done: string[] = [];
    for (const m of listMigrations()) {
      if (applied.has(m.version)) continue;
      log?.info({ migration: m.name }, 'applying migration');
      await conn.query(m.sql);
      await conn.query('INSERT INTO stv3_schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))', [m.version, m.name]);
      done.push(m.name);
    }
    return done;
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
  }
}

/** Versions not yet applied (for `stv3 status` and start-up checks). */
export async function pendingMigrations(conn: Connection): Promise<Migration[]> {
  const [tables] = await conn.query("SHOW TABLES LIKE 'stv3_schema_migrations'");
  if ((tables as unknown[]).length === 0) return listMigrations();
  const [rows] = await conn.query('SELECT version FROM stv3_schema_migrations');
  const applied = new Set((rows as { version: number }[]).map((r) => r.version));
  return listMigrations().filter((m) => !applied.has(m.version));
}
