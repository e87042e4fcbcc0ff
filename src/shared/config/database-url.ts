/**
 * winchester.yaml names its database in SQLAlchemy form: `mysql://u:p@host[:port]/db`,
 * `mysql+mysqldb://…`, `mysql+pymysql://…`, `mysql+mysqlconnector://…`, `mariadb://…`, with
 * optional `?charset=…&unix_socket=…` query parameters. We turn it into mysql2 options.
 */
import type { ConnectionOptions } from 'mysql2';

export interface DatabaseTarget {
  readonly options: ConnectionOptions;
  /** host:port/db with the user, never the password: for logs and errors. */
  readonly display: string;
}

const SCHEME = /^(mysql|mariadb)(\+[a-z0-9_]+)?:\/\//i;

/** Throws an Error whose message says what is wrong with the URL (the caller adds file and key). */
export function parseDatabaseUrl(text: string): DatabaseTarget {
  if (!SCHEME.test(text)) {
    throw new Error(`expected mysql://user:password@host[:port]/database (SQLAlchemy form), got "${redact(text)}"`);
  }
  let url: URL;
  try {
    url = new URL(text.replace(SCHEME, 'mysql://'));
  } catch {
    throw new Error(`not a valid URL: "${redact(text)}"`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error(`no database name in "${redact(text)}"`);
  const options: ConnectionOptions = {
    host: url.hostname || 'localhost',
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
    database,
  };
  const socket = url.searchParams.get('unix_socket');
  if (socket) options.socketPath = socket;
  const charset = url.searchParams.get('charset');
  if (charset) options.charset = charset.toUpperCase() === 'UTF8' ? 'UTF8MB4_GENERAL_CI' : charset.toUpperCase();
  return { options, display: `${options.user}@${options.host}:${options.port}/${database}` };
}

function redact(text: string): string {
  return text.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
