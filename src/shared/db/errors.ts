/**
 * Which database errors are worth retrying. Infrastructure trouble (connection lost or refused,
 * server restarting, deadlock, lock wait timeout, the connection killed) is retried with a
 * capped backoff where it happens; anything else is a property of the data or a bug and must
 * not be retried forever.
 */

const TRANSIENT_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_PACKETS_OUT_OF_ORDER',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_LOCK_TABLE_FULL',
  'ER_OPTION_PREVENTS_STATEMENT', // read-only during a failover
  'ER_UNKNOWN_COM_ERROR',
]);

/** MariaDB/MySQL numeric codes without a mysql2 name on every version. */
const TRANSIENT_ERRNOS = new Set([1053, 1205, 1213, 1317, 1927, 2006, 2013, 4031]);

export function isTransientDbError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown };
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && TRANSIENT_ERRNOS.has(e.errno)) return true;
  // mysql2 marks errors that broke the connection as fatal; so does "closed state".
  if (e.fatal === true) return true;
  return typeof e.message === 'string' && /closed state|Connection lost/i.test(e.message);
}

export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'ER_DUP_ENTRY';
}
