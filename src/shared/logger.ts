/**
 * One pino root per process, JSON lines on stdout (pm2 writes them to its log files; operators
 * read them with `pm2 logs`, piped through pino-pretty if they like). Components take a child:
 * `root.child({ component: 'consumer' })`; ids go in fields, errors under `err`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** Shown in every line, e.g. { cell: 'cell1' } or { worker: 'pipeline-worker-0' }. */
  base: Record<string, string | number>;
  level?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: (process.env['STV3_LOG_LEVEL'] ?? options.level ?? 'info').toLowerCase(),
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
