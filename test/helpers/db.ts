/**
 * A database of its own for each test file (named after the file), created fresh and migrated,
 * on the server MYSQL_URL names, and dropped by close(). Files therefore run in parallel and can
 * be rerun.
 */
import { createHash } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { parseDatabaseUrl, type DatabaseTarget } from '../../src/shared/config/database-url.js';
import { migrate } from '../../src/shared/db/migrate.js';
import { createDbPool, type Pool } from '../../src/shared/db/pool.js';

export interface TestDatabase {
  readonly name: string;
  /** SQLAlchemy-style URL for winchester.yaml / STV3_DATABASE_URL. */
  readonly url: string;
  readonly target: DatabaseTarget;
  readonly pool: Pool;
  close(): Promise<void>;
}

export function serverUrl(): URL {
  return new URL(process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test');
}

/** `key` is usually import.meta.url of the test file. */
export async function createTestDatabase(key: string, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `stv3_t_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
  const server = serverUrl();
  const admin = await createConnection({ ...parseDatabaseUrl(server.href).options, database: undefined, multipleStatements: true });
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const url = new URL(server.href);
  url.pathname = `/${name}`;
  const target = parseDatabaseUrl(url.href);
  if (options.migrate !== false) {
    const conn = await createConnection({ ...target.options, multipleStatements: true });
    await migrate(conn);
    await conn.end();
  }
  const pool = createDbPool(target, { connectionLimit: 4 });
  return {
    name,
    url: url.href,
    target,
    pool,
    // Dropped when the file is done, so the shared server does not collect test databases.
    close: async () => {
      await pool.end();
      const conn = await createConnection({ ...parseDatabaseUrl(server.href).options, database: undefined });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``).finally(() => conn.end());
    },
  };
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const [rows] = await pool.query(sql, params);
  return Number((rows as Record<string, unknown>[])[0]!['n']);
}
