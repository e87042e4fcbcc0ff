/**
 * Who is to blame for a database error (invariant 11): the one table that decides it.
 *
 *   transient       the connection or the server is briefly unavailable (lost connection,
 *                   restart, deadlock, lock wait timeout, failover read-only): retry the same
 *                   work with capped backoff, for as long as it takes.
 *   conflict        another process wrote the same unique row first (an event's message_id, a
 *                   stream's open key): retry at once and the retry finds it.
 *   content         the value itself cannot be stored (too long, out of range, not a valid
 *                   datetime or string): the message's fault once it fails alone.
 *   infrastructure  everything else: grants, disk full, schema drift, statement timeouts,
 *                   binlog or replication refusals, and any error we do not know. Never blamed
 *                   on a message without proof: the worker stops consuming and retries; only a
 *                   message that fails alone while a canary write succeeds is counted against
 *                   (see yagi-worker/ingest.ts).
 *
 * Keyed by mysql2's error code name where it has one, else by the server's errno (some
 * MariaDB-only codes have no name in mysql2). A test covers every entry.
 */

export type DbErrorClass = 'transient' | 'conflict' | 'content' | 'infrastructure';

/** [code name or errno, class, what it means]. */
export const DB_ERROR_TABLE: readonly (readonly [string | number, Exclude<DbErrorClass, 'infrastructure'>, string])[] = [
  // client side: the connection, not the statement
  ['PROTOCOL_CONNECTION_LOST', 'transient', 'the server closed the connection'],
  ['PROTOCOL_SEQUENCE_TIMEOUT', 'transient', 'no answer in time'],
  ['PROTOCOL_PACKETS_OUT_OF_ORDER', 'transient', 'a broken connection'],
  ['ECONNREFUSED', 'transient', 'the server is not listening (restarting?)'],
  ['ECONNRESET', 'transient', 'the connection was reset'],
  ['ETIMEDOUT', 'transient', 'connect or socket timeout'],
  ['EPIPE', 'transient', 'wrote to a closed connection'],
  ['EHOSTUNREACH', 'transient', 'network unreachable'],
  ['ENETUNREACH', 'transient', 'network unreachable'],
  ['ENOTFOUND', 'transient', 'DNS lookup failed'],
  ['EAI_AGAIN', 'transient', 'DNS lookup failed for now'],
  // server side: the server or the other transactions, not this data
  ['ER_LOCK_DEADLOCK', 'transient', 'deadlock: the transaction was rolled back'],
  ['ER_LOCK_WAIT_TIMEOUT', 'transient', 'a row lock was held too long by another transaction'],
  ['ER_SERVER_SHUTDOWN', 'transient', 'the server is shutting down'],
  ['ER_CON_COUNT_ERROR', 'transient', 'too many connections'],
  ['ER_TOO_MANY_USER_CONNECTIONS', 'transient', 'too many connections for this user'],
  ['ER_QUERY_INTERRUPTED', 'transient', 'the query was killed'],
  ['ER_CONNECTION_KILLED', 'transient', 'the connection was killed'],
  ['ER_CLIENT_INTERACTION_TIMEOUT', 'transient', 'idle connection closed by the server'],
  ['ER_NET_READ_ERROR', 'transient', 'network error reading from the client'],
  ['ER_NET_READ_INTERRUPTED', 'transient', 'network read interrupted'],
  ['ER_NET_ERROR_ON_WRITE', 'transient', 'network error writing to the client'],
  ['ER_NET_WRITE_INTERRUPTED', 'transient', 'network write interrupted'],
  ['ER_LOCK_TABLE_FULL', 'transient', 'too many locks at once (the buffer pool is busy)'],
  ['ER_OPTION_PREVENTS_STATEMENT', 'transient', 'the server is read-only (a failover in progress)'],
  ['ER_UNKNOWN_COM_ERROR', 'transient', 'protocol confusion on a broken connection'],
  [1053, 'transient', 'server shutdown in progress'],
  [1927, 'transient', 'the connection was killed (MariaDB)'],
  [2006, 'transient', 'MySQL server has gone away'],
  [2013, 'transient', 'lost connection during the query'],
  [4031, 'transient', 'idle connection closed by the server (MariaDB)'],
  // another process created the same unique row first
  ['ER_DUP_ENTRY', 'conflict', 'a unique key is taken: another process stored the same row'],
  // the value itself
  ['ER_DATA_TOO_LONG', 'content', 'a value is longer than its column'],
  ['ER_TRUNCATED_WRONG_VALUE', 'content', 'a value is not valid for its type (e.g. a datetime)'],
  ['ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', 'content', 'a string is not valid in the column character set'],
  ['ER_WARN_DATA_OUT_OF_RANGE', 'content', 'a number is out of the column range'],
  ['ER_DATETIME_FUNCTION_OVERFLOW', 'content', 'datetime arithmetic overflowed'],
  ['ER_INVALID_CHARACTER_STRING', 'content', 'invalid characters in a string'],
  ['ER_INVALID_JSON_TEXT', 'content', 'invalid JSON for a JSON column'],
  ['ER_BAD_NULL_ERROR', 'content', 'a required value is missing'],
  [4025, 'content', 'a CHECK constraint failed (MariaDB checks JSON columns so: invalid JSON)'],
];

const BY_KEY = new Map<string | number, DbErrorClass>(DB_ERROR_TABLE.map(([key, cls]) => [key, cls]));

/** The class of any thrown value (non-database errors are 'infrastructure': unknown). */
export function classifyDbError(err: unknown): DbErrorClass {
  if (typeof err !== 'object' || err === null) return 'infrastructure';
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown };
  const byCode = typeof e.code === 'string' ? BY_KEY.get(e.code) : undefined;
  if (byCode) return byCode;
  const byErrno = typeof e.errno === 'number' ? BY_KEY.get(e.errno) : undefined;
  if (byErrno) return byErrno;
  // mysql2 marks errors that broke the connection as fatal; so is a query on a closed one.
  if (e.fatal === true) return 'transient';
  if (typeof e.message === 'string' && /closed state|Connection lost|Pool is closed/i.test(e.message)) return 'transient';
  return 'infrastructure';
}

export function isTransientDbError(err: unknown): boolean {
  return classifyDbError(err) === 'transient';
}

export function isDuplicateKey(err: unknown): boolean {
  return classifyDbError(err) === 'conflict';
}

/** "ER_TABLEACCESS_DENIED_ERROR (1142): INSERT command denied …" for logs and quarantine reasons. */
export function describeDbError(err: unknown): string {
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const errno = typeof e.errno === 'number' ? ` (${e.errno})` : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return code || errno ? `${code}${errno}: ${message}` : message;
}
