/**
 * What the benchmarks share: the local services' URLs, fresh migrated databases, and the CPU
 * time of processes (from /proc) to say where the time went.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'amqplib';
import { createConnection, type Pool } from 'mysql2/promise';
import { parseDatabaseUrl } from '../src/shared/config/database-url.js';
import { migrate } from '../src/shared/db/migrate.js';
import { createDbPool } from '../src/shared/db/pool.js';

export const MYSQL = process.env['MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';
export const AMQP = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** The URL of database `name` on the MYSQL_URL server. */
export function dbUrl(name: string): string {
  const u = new URL(MYSQL);
  u.pathname = `/${name}`;
  return u.href;
}

/** Runs SQL (several statements allowed) on the server, outside any database. */
export async function admin(sql: string): Promise<void> {
  const conn = await createConnection({ ...parseDatabaseUrl(MYSQL).options, database: undefined, multipleStatements: true });
  await conn.query(sql);
  await conn.end();
}

/** Drops and recreates database `name`, migrated; returns a pool on it. */
export async function freshDatabase(name: string, connectionLimit = 4): Promise<Pool> {
  await admin(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\``);
  const target = parseDatabaseUrl(dbUrl(name));
  const conn = await createConnection({ ...target.options, multipleStatements: true });
  await migrate(conn);
  await conn.end();
  return createDbPool(target, { connectionLimit });
}

/** CPU seconds used so far by a process (utime + stime). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function pidOf(name: string): number | null {
  const out = execFileSync('pidof', ['-s', name], { encoding: 'utf8' }).trim();
  return out ? Number(out) : null;
}

/** Declares exchange `bench` and `queue` (emptied), and publishes every body with confirms. */
export async function fillQueue(queue: string, bodies: readonly string[]): Promise<void> {
  const conn = await connect(AMQP);
  const ch = await conn.createConfirmChannel();
  await ch.assertExchange('bench', 'topic', { durable: false });
  await ch.deleteQueue(queue);
  await ch.assertQueue(queue, { durable: false });
  await ch.bindQueue(queue, 'bench', queue);
  for (const body of bodies) {
    if (!ch.publish('bench', queue, Buffer.from(body), { contentType: 'application/json' })) await new Promise((r) => ch.once('drain', r));
  }
  await ch.waitForConfirms();
  await conn.close();
}
