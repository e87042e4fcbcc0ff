/**
 * One pino root per process, JSON lines on stdout (pm2 writes them to its log files; operators
 * read them with `pm2 logs`). Components take a child: `root.child({ component: 'consumer' })`;
 * ids go in fields, errors under `err`.
 *
 * `STV3_LOG_FORMAT=pretty` (the deployment file's `log_format: pretty`, which
 * ecosystem.config.js passes on; the sandbox sets it) writes the same records for people
 * instead, through pino-pretty: one line each, `[HH:MM:ss.l] LEVEL: (app/cell component) message
 * {other fields}`, an error's stack below, in colour when stdout is a terminal (or FORCE_COLOR is set). JSON
 * stays the default for machines.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  /** Shown in every line, e.g. { cell: 'cell1' } or { worker: 'pipeline-worker-0' }. */
  base: Record<string, string | number>;
  level?: string;
}

/** The log formats STV3_LOG_FORMAT accepts. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** STV3_LOG_FORMAT, `json` when unset; anything else is an Error naming the variable. */
export function logFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const value = (env['STV3_LOG_FORMAT'] ?? 'json').trim().toLowerCase() || 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new Error(`STV3_LOG_FORMAT: expected one of ${LOG_FORMATS.join(', ')}, got "${env['STV3_LOG_FORMAT']}"`);
  return value as LogFormat;
}

export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: (process.env['STV3_LOG_LEVEL'] ?? options.level ?? 'info').toLowerCase(),
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError },
  };
  const toStdout = pm2ClusterWorker() ? process.stdout : undefined;
  if (logFormat() === 'json') return toStdout ? pino(settings, toStdout) : pino(settings);
  const colour = process.stdout.isTTY || (process.env['FORCE_COLOR'] !== undefined && process.env['FORCE_COLOR'] !== '0');
  return pino(
    settings,
    pretty({
      colorize: colour,
      // Synchronous, so a line written just before process.exit() is not lost.
      sync: true,
      ...(toStdout ? { destination: toStdout } : {}),
      translateTime: 'UTC:HH:MM:ss.l',
      // Other fields follow the message on the same line; an error's stack below it.
      singleLine: true,
      ignore: 'pid,hostname,app,cell,worker,instance,component',
      messageFormat: (log, messageKey) => {
        const who = [log['app'], log['cell'] ?? log['worker'] ?? log['instance']].filter((v) => v !== undefined && v !== '').join('/');
        const component = log['component'] === undefined ? '' : ` ${String(log['component'])}`;
        return `${who || component ? `(${String(who)}${component}) ` : ''}${String(log[messageKey] ?? '')}`;
      },
    }),
  );
}

/** Characters of a failed statement's text kept in a log line (mysql2 errors carry all of it). */
const MAX_LOGGED_SQL = 500;

/**
 * pino's error serializer, except that the statement text a mysql2 error carries (`sql`: a
 * batch's multi-row INSERT can be megabytes, with every body in it) is cut to its first
 * MAX_LOGGED_SQL characters and its length.
 */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  const sql = out['sql'];
  if (typeof sql === 'string' && sql.length > MAX_LOGGED_SQL) out['sql'] = `${sql.slice(0, MAX_LOGGED_SQL)}… (${sql.length} characters)`;
  return out;
}

/**
 * A pm2 cluster-mode worker (the API's instances): its fd 1 is the pm2 daemon's own (pm2.log),
 * and pm2 takes its lines into the app's log only through process.stdout.write. Everywhere else
 * pino writes to fd 1 directly, which is faster.
 */
function pm2ClusterWorker(): boolean {
  return process.env['exec_mode'] === 'cluster_mode' && process.env['pm_id'] !== undefined;
}
