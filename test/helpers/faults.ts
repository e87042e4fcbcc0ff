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

/**
 * Kills sessions connected to `database` other than this pool's: the given ones, or all;
 * returns how many.
 */
export async function killDatabaseSessions(pool: Pool, database: string, ...only: number[]): Promise<number> {
  const [rows] = await pool.query('SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()', [database]);
  const ids = (rows as { id: number }[]).map((r) => r.id).filter((id) => only.length === 0 || only.includes(id));
  for (const id of ids) await pool.query(`KILL ${Number(id)}`).catch(() => undefined);
  return ids.length;
}

/**
 * Makes the next event INSERT of a worker wait inside its transaction (it needs a shared lock
 * on its event_type row for the foreign key; we hold exclusive ones), so a fault lands
 * mid-batch for certain. Returns the id of the waiting session and a release function.
 */
export async function holdIngestMidBatch(pool: Pool, database: string, timeoutMs = 30_000): Promise<{ sessionId: number; release: () => Promise<void> }> {
  const conn = await pool.getConnection();
  // Taking the locks can deadlock with a batch of the worker's (which holds shared ones for its
  // foreign keys); InnoDB then rolls ours back, and we take them again.
  for (let attempt = 1; ; attempt++) {
    await conn.query('BEGIN');
    try {
      await conn.query('SELECT id FROM event_type FOR UPDATE');
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= 10) {
        conn.release();
        throw err;
      }
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [rows] = await pool.query("SELECT id FROM information_schema.processlist WHERE db = ? AND info LIKE 'INSERT INTO event %'", [database]);
    const waiting = (rows as { id: number }[])[0];
    if (waiting) {
      return {
        sessionId: waiting.id,
        release: async () => {
          await conn.query('ROLLBACK').catch(() => undefined);
          conn.release();
        },
      };
    }
    if (Date.now() > deadline) {
      await conn.query('ROLLBACK');
      conn.release();
      throw new Error('no ingest INSERT started waiting');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Makes the broker close the channels of one connection (its client-provided name contains
 * `nameFragment`) while the connection stays up, as RabbitMQ's consumer_timeout does: each
 * channel gets an ack for a delivery tag it never sent, and answers 406 PRECONDITION_FAILED.
 * Only that connection is touched, so parallel test files are not disturbed.
 */
export async function closeBrokerChannels(nameFragment: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'peer_port', 'client_properties']);
  const port = stdout.split('\n').find((line) => line.includes(nameFragment))?.split('\t')[0]?.trim();
  if (!port || !/^\d+$/.test(port)) throw new Error(`no broker connection named like "${nameFragment}"`);
  const expr = `[rabbit_channel:do(P, {'basic.ack', 999999999, false}) || P <- rabbit_channel:list(), string:find(proplists:get_value(name, rabbit_channel:info(P, [name])), <<":${port} -> ">>) =/= nomatch].`;
  await run('rabbitmqctl', ['eval', expr]);
}

/**
 * Makes the broker block (or unblock) publishers on these connections only, as a memory or disk
 * alarm does for all of them: each connection's reader is told to conserve resources, and it
 * sends connection.blocked and stops reading publishes. Parallel test files are not disturbed.
 */
export async function blockBrokerConnections(pids: readonly string[], blocked: boolean): Promise<void> {
  for (const pid of pids) {
    if (!/^<[\w@.-]+>$/.test(pid)) throw new Error(`not a connection pid: ${pid}`);
    await run('rabbitmqctl', ['eval', `rabbit_misc:string_to_pid("${pid}") ! {conserve_resources, memory, ${blocked}}.`]);
  }
}
