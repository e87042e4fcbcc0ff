/**
 * NotabeneHandler params (spec §4.7, pipelines.yaml): upstream's names and defaults, checked
 * eagerly. The pipeline worker builds every configured handler once at start, so a missing or
 * mistyped param stops the worker there, naming the param, instead of failing each stream run.
 * Upstream took any keyword and ignored the unknown ones; we reject them, because a misspelt
 * optional param (`env_key`) would otherwise silently publish nothing.
 */

/** Where to connect: one pooled connection per distinct value (notabene-publisher.ts). */
export interface BrokerParams {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
}

/** What to publish to: the exchange, and `queue_name`, which is both the queue and the routing key. */
export interface Topology {
  readonly exchange: string;
  readonly exchangeType: string;
  readonly queue: string;
}

export interface NotabeneParams {
  readonly broker: BrokerParams;
  readonly topology: Topology;
  readonly envKeys: readonly string[];
  /** Ours: how long a publish may wait for the broker's confirm (a blocked broker never sends it). */
  readonly confirmTimeoutMs: number;
}

const KNOWN_PARAMS = ['host', 'user', 'password', 'port', 'vhost', 'library', 'exchange', 'exchange_type', 'queue_name', 'env_keys', 'confirm_timeout_seconds'];

export function parseNotabeneParams(params: Readonly<Record<string, unknown>>): NotabeneParams {
  const unknown = Object.keys(params).filter((name) => !KNOWN_PARAMS.includes(name));
  if (unknown.length > 0) {
    throw new Error(`notabene: unknown param${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} (known: ${KNOWN_PARAMS.join(', ')})`);
  }
  // `library` (librabbitmq / amqp) chose upstream's Python AMQP client; accepted and ignored.
  return {
    broker: {
      host: text(params, 'host', 'localhost'),
      port: port(params['port']),
      user: text(params, 'user', 'guest'),
      password: text(params, 'password', 'guest', { allowEmpty: true }),
      vhost: text(params, 'vhost', '/'),
    },
    topology: {
      exchange: text(params, 'exchange'),
      exchangeType: text(params, 'exchange_type', 'topic'),
      queue: text(params, 'queue_name'),
    },
    envKeys: envKeys(params['env_keys']),
    confirmTimeoutMs: seconds(params['confirm_timeout_seconds'], 30) * 1000,
  };
}

/** A positive number of seconds (the default when absent). */
function seconds(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`notabene: param 'confirm_timeout_seconds' must be a positive number, got ${describe(value)}`);
  return value;
}

/** The broker as an amqp:// URL without the password, for logs and errors. */
export function brokerDisplayUrl({ host, port, user, vhost }: BrokerParams): string {
  return `amqp://${encodeURIComponent(user)}:***@${host}:${port}/${encodeURIComponent(vhost)}`;
}

/** A string param; without a default it is required. */
function text(params: Readonly<Record<string, unknown>>, name: string, fallback?: string, opts: { allowEmpty?: boolean } = {}): string {
  const value = params[name] ?? fallback;
  if (value === undefined) throw new Error(`notabene: param '${name}' is required`);
  if (typeof value !== 'string') throw new Error(`notabene: param '${name}' must be a string, got ${describe(value)} (quote it in YAML)`);
  if (value === '' && !opts.allowEmpty) throw new Error(`notabene: param '${name}' must not be empty`);
  return value;
}

/** An integer 1–65535, or such a number in a string (a quoted YAML value). */
function port(value: unknown): number {
  if (value === undefined || value === null) return 5672;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`notabene: param 'port' must be a port number (1-65535), got ${describe(value)}`);
  }
  return n;
}

function envKeys(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((key) => typeof key === 'string')) {
    throw new Error(`notabene: param 'env_keys' must be a list of strings, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}
