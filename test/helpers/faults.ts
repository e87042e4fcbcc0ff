/**
 * Cutting a worker's connections the way real faults do: the broker closing its connection
 * (rabbitmqctl close_connection, for that worker's connection only, so parallel test files
 * are not disturbed) and MySQL killing its sessions (KILL <id>).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Pool } from 'mysql2/promise';

const run = promisify(execFile);

/** Broker connection ids (Erlang pids) whose client-provided name contains `nameFragment`. */
export async function brokerConnections(nameFragment: string): Promise<string[]> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
  return stdout
    .split('\n')
    .filter((line) => line.includes(nameFragment))
    .map((line) => line.split('\t')[0]!.trim())
    .filter(Boolean);
}

/** Has the broker close these connections (rabbitmqctl takes a couple of seconds). */
export async function closeBrokerConnections(pids: readonly string[]): Promise<void> {
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'test: fault injection']);
}

/** Kills every session connected to `database` (except the pool's own); returns how many. */
export async function killDatabaseSessions(pool: Pool, database: string): Promise<number> {
  const [rows] = await pool.query('SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()', [database]);
  const ids = (rows as { id: number }[]).map((r) => r.id);
  for (const id of ids) await pool.query(`KILL ${Number(id)}`).catch(() => undefined);
  return ids.length;
}
