/**
 * What a process checks about its database server at start, so that a server or a user that
 * cannot work stops it with one clear message (exit 1) instead of failing later, or worse,
 * never firing anything:
 * - the server: MariaDB or MySQL with microsecond DATETIME(6), JSON functions (event.traits;
 *   MariaDB ≥ 10.2.7, MySQL ≥ 5.7.8), and `FOR UPDATE SKIP LOCKED` (MariaDB ≥ 10.6, MySQL ≥
 *   8.0.1) where the process claims streams with it;
 * - the user: every privilege the process needs on every table, probed with statements that
 *   change nothing (in a transaction that is rolled back), all missing ones named at once.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';

export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** Per table: the privileges a process needs. */
export type PrivilegeNeeds = Readonly<Record<string, readonly Privilege[]>>;

export interface ServerRequirements {
  readonly skipLocked: boolean;
  readonly privileges: PrivilegeNeeds;
}

export interface ServerInfo {
  readonly version: string;
  readonly skipLocked: boolean;
}

/** Everything writing events and filing them into streams needs (ingest, handler events, replays). */
const STORE_WRITE: PrivilegeNeeds = {
  event_type: ['SELECT', 'INSERT'],
  event: ['SELECT', 'INSERT'],
  trait: ['SELECT', 'INSERT'],
  stream: ['SELECT', 'INSERT', 'UPDATE'],
  dist_trait: ['SELECT', 'INSERT'],
  streamevent: ['SELECT', 'INSERT'],
};

export const YAGI_WORKER_NEEDS: PrivilegeNeeds = { ...STORE_WRITE, quarantine: ['SELECT', 'INSERT'], ingest_cell: ['SELECT', 'INSERT', 'UPDATE'] };
export const PIPELINE_WORKER_NEEDS: PrivilegeNeeds = { ...STORE_WRITE, stream: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] };
/** Trimming (store/retention.ts), in a pipeline worker with trim_events or `stv3 trim`. */
export const TRIM_NEEDS: PrivilegeNeeds = {
  event_type: ['SELECT', 'INSERT'],
  event: ['SELECT', 'INSERT', 'DELETE'],
  trait: ['SELECT', 'INSERT', 'DELETE'],
  stream: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  dist_trait: ['SELECT', 'INSERT', 'DELETE'],
  streamevent: ['SELECT', 'INSERT', 'DELETE'],
};
/**
 * The API's: reads everything, resets (UPDATE) and deletes streams (their dist_trait and
 * streamevent rows go by ON DELETE CASCADE), replays (files events as ingest does, updates or
 * deletes the quarantine row). Not checked at its start; deploy/ansible grants it.
 */
export const API_NEEDS: PrivilegeNeeds = {
  ...STORE_WRITE,
  stream: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  quarantine: ['SELECT', 'UPDATE', 'DELETE'],
  ingest_cell: ['SELECT'],
  stv3_schema_migrations: ['SELECT'],
};
/** Every process reads the applied migrations at start (no DDL when nothing is pending). */
export const MIGRATIONS_READ: PrivilegeNeeds = { stv3_schema_migrations: ['SELECT'] };

/** What several roles need together: per table, every privilege any of them needs. */
export function unionOfNeeds(...needs: readonly PrivilegeNeeds[]): PrivilegeNeeds {
  const union: Record<string, Privilege[]> = {};
  for (const n of needs) {
    for (const [table, privileges] of Object.entries(n)) {
      const list = (union[table] ??= []);
      for (const p of privileges) if (!list.includes(p)) list.push(p);
    }
  }
  return union;
}

/** A column each table has, for the UPDATE probe. */
const KEY_COLUMN: Readonly<Record<string, string>> = { event_type: 'id', event: 'id', trait: 'event_id', stream: 'id', dist_trait: 'stream_id', streamevent: 'stream_id', quarantine: 'id', ingest_cell: 'cell' };

export class ServerCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerCheckError';
  }
}

/** Checks the server and the user's privileges; throws ServerCheckError naming what is wrong. */
export async function checkServer(pool: Pool, req: ServerRequirements): Promise<ServerInfo> {
  const conn = await pool.getConnection();
  try {
    const [[row]] = (await conn.query('SELECT VERSION() AS version, CAST(? AS DATETIME(6)) AS micro', ['2000-01-01 00:00:00.123456'])) as unknown as [[{ version: string; micro: string }]];
    const version = row.version;
    const problems: string[] = [];
    if (!String(row.micro).endsWith('.123456')) problems.push(`it does not keep microseconds in DATETIME(6) (got ${row.micro})`);
    if (!(await supportsJson(conn))) problems.push('it has no JSON functions (MariaDB ≥ 10.2.7 or MySQL ≥ 5.7.8 have them; event.traits is a JSON document)');
    const skipLocked = await supportsSkipLocked(conn);
    if (req.skipLocked && !skipLocked) {
      problems.push('it has no SELECT … FOR UPDATE SKIP LOCKED (MariaDB ≥ 10.6 or MySQL ≥ 8.0.1 have it); set `pipeline_claim_strategy: serial` in winchester.yaml to claim without it');
    }
    const missing = await missingPrivileges(conn, req.privileges);
    if (missing.length > 0) problems.push(`its user lacks ${missing.join(', ')} (GRANT them to the user of database.url)`);
    if (problems.length > 0) throw new ServerCheckError(`database server ${version}: ${problems.join('; ')}`);
    return { version, skipLocked };
  } finally {
    conn.release();
  }
}

async function supportsJson(conn: PoolConnection): Promise<boolean> {
  try {
    const [[row]] = (await conn.query(`SELECT JSON_VALID('{"a": 1}') AS ok`)) as unknown as [[{ ok: number }]];
    return Number(row.ok) === 1;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_SP_DOES_NOT_EXIST' || (err as { code?: string }).code === 'ER_PARSE_ERROR') return false;
    throw err;
  }
}

async function supportsSkipLocked(conn: PoolConnection): Promise<boolean> {
  try {
    await conn.query('SELECT 1 FROM DUAL WHERE 1 = 0 FOR UPDATE SKIP LOCKED');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_PARSE_ERROR') return false;
    throw err;
  }
}

async function missingPrivileges(conn: PoolConnection, needs: PrivilegeNeeds): Promise<string[]> {
  const missing: string[] = [];
  await conn.beginTransaction();
  try {
    for (const [table, privileges] of Object.entries(needs)) {
      for (const privilege of privileges) {
        try {
          await conn.query(probe(table, privilege));
        } catch (err) {
          const e = err as { code?: string; message?: string };
          if (e.code === 'ER_TABLEACCESS_DENIED_ERROR' || e.code === 'ER_COLUMNACCESS_DENIED_ERROR') missing.push(`${privilege} on ${table}`);
          else if (e.code === 'ER_NO_SUCH_TABLE') throw new ServerCheckError(`table ${table} does not exist: run \`stv3 migrate\` (or start without --no-migrate) with a user that may create tables`);
          else throw err;
        }
      }
    }
  } finally {
    await conn.rollback().catch(() => undefined);
  }
  return missing;
}

/** A statement needing exactly `privilege` on `table` (plus SELECT, checked first) that changes nothing. */
function probe(table: string, privilege: Privilege): string {
  const t = `\`${table}\``;
  switch (privilege) {
    case 'SELECT':
      return `SELECT 1 FROM ${t} LIMIT 0`;
    case 'INSERT':
      return `INSERT INTO ${t} SELECT * FROM ${t} WHERE 1 = 0`;
    case 'UPDATE':
      return `UPDATE ${t} SET ${KEY_COLUMN[table] ?? 'id'} = ${KEY_COLUMN[table] ?? 'id'} WHERE 1 = 0`;
    case 'DELETE':
      return `DELETE FROM ${t} WHERE 1 = 0`;
  }
}
