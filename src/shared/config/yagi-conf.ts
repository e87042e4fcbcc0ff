/**
 * yagi.conf (spec §2.2): one per cell, naming the broker, the queues to consume and the
 * winchester.yaml to use. Upstream's files load unchanged; several files may be given and are
 * read in order, later ones overriding earlier ones (as the sandbox's
 * yagi.conf.winchester + yagi.conf.common, which upstream concatenated).
 *
 * Keys we add (all optional, documented in README "Configuration"):
 *   [global] cell                     the cell name shown in logs (default: from the file name
 *                                     yagi-<cell>.conf, else "default")
 *   [consumer:<q>] batch_timeout_ms   flush a partial batch after this long (default 50)
 *   [consumer:<q>] prefetch           unacked messages the broker may push (default 10 × max_messages, so that batches can grow under backlog)
 *   [consumer:<q>] max_body_bytes     larger bodies are quarantined (default 1048576)
 * `max_messages` is the batch size: messages per MySQL transaction.
 *
 * The raw archive (apps `yagi.handler.shoebox_handler.ShoeboxHandler`, spec §2.7) reads
 * upstream's [shoebox] keys: working_directory, destination_folder (default: the working
 * directory), roll_size_mb (default 1000), roll_minutes (default 60), relative to the working
 * directory of the process as upstream. roll_manager, filename_template, callback and
 * roll_checker are accepted with a warning (files are always gzip JSON lines named by their
 * time range; see yagi-worker/archive.ts); wrap_payload_with_region = True is refused (the
 * lines must stay replayable; the cell is the directory).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { suggest } from '../triggers/config-path.js';
import { ConfigError } from '../errors.js';
import { parseIni, type IniFile, type IniOption } from './ini.js';
import { locate } from './locate.js';

export interface BrokerConfig {
  /** amqp:// URL with credentials. */
  readonly url: string;
  /** The same without the password, for logs. */
  readonly displayUrl: string;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
}

export interface ConsumerConfig {
  readonly queue: string;
  readonly exchange: string;
  readonly exchangeType: string;
  readonly routingKey: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly exchangeDurable: boolean;
  readonly exchangeAutoDelete: boolean;
  /** Messages per batch (one MySQL transaction). */
  readonly maxMessages: number;
  readonly batchTimeoutMs: number;
  readonly prefetch: number;
  readonly maxBodyBytes: number;
  /** Failures of one message alone, with the database otherwise healthy, before it is quarantined. */
  readonly maxAttempts: number;
  readonly apps: readonly string[];
}

/** [shoebox]: the raw archive (yagi-worker/archive.ts). */
export interface ArchiveConfig {
  /** Where the file being written lives (a `<cell>` directory is made inside). */
  readonly workingDirectory: string;
  /** Where rolled files go (a `<cell>` directory is made inside). */
  readonly destinationFolder: string;
  readonly rollSizeBytes: number;
  readonly rollMinutes: number;
  /** Queues whose consumer lists ShoeboxHandler in its apps. */
  readonly queues: ReadonlySet<string>;
}

export interface YagiConfig {
  readonly files: readonly string[];
  readonly cell: string;
  readonly broker: BrokerConfig;
  readonly consumers: readonly ConsumerConfig[];
  /** Absolute path of winchester.yaml. */
  readonly winchesterConfigFile: string;
  /** The raw archive, when a consumer lists ShoeboxHandler in its apps. */
  readonly archive: ArchiveConfig | null;
  readonly warnings: readonly string[];
}

const KNOWN_SECTIONS: Record<string, readonly string[]> = {
  global: ['verbose', 'debug', 'update_timer', 'cell'],
  event_worker: ['pidfile', 'daemonize', 'event_driver'],
  rabbit_broker: ['host', 'user', 'password', 'port', 'vhost', 'poll_delay', 'reconnect_delay', 'max_wait', 'max_connection_age', 'ssl', 'exchange_name'],
  logging: ['logfile', 'default_level', 'config_file'],
  consumers: ['queues'],
  winchester: ['config_file'],
  shoebox: ['working_directory', 'destination_folder', 'filename_template', 'roll_manager', 'roll_size_mb', 'roll_minutes', 'wrap_payload_with_region', 'wrap_region', 'wrap_cell', 'callback', 'roll_checker'],
};
const CONSUMER_KEYS = ['apps', 'exchange', 'exchange_type', 'routing_key', 'durable', 'auto_delete', 'exchange_durable', 'exchange_auto_delete', 'max_messages', 'filters', 'batch_timeout_ms', 'prefetch', 'max_body_bytes', 'max_attempts'];
/** Sections of upstream handlers and features we do not run: accepted, not read. */
const IGNORED_SECTIONS = /^(oahu|stats|filters|exclude_filters|discard_filters|filter:.*|winchester:.*|shoebox:.*)$/;

const WINCHESTER_HANDLER = 'winchester.yagi_handler.WinchesterHandler';
const SHOEBOX_HANDLER = 'yagi.handler.shoebox_handler.ShoeboxHandler';

export interface LoadYagiOptions {
  /** Overrides [global] cell and the file-name default. */
  cell?: string;
  /** Environment, for STV3_AMQP_URL. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function loadYagiConfig(paths: readonly string[], options: LoadYagiOptions = {}): YagiConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (paths.length === 0) throw new ConfigError('(command line)', '--config', 'no yagi.conf given');
  const files = paths.map((p) => resolve(cwd, p));
  const merged = new Map<string, Map<string, IniOption & { file: string }>>();
  for (const file of files) {
    if (!existsSync(file)) throw new ConfigError(file, '', 'file not found');
    const ini: IniFile = parseIni(readFileSync(file, 'utf8'), file);
    for (const [name, options] of ini.sections) {
      const target = merged.get(name) ?? new Map();
      for (const [key, opt] of options) target.set(key, { ...opt, file });
      merged.set(name, target);
    }
  }
  const where = files.length === 1 ? files[0]! : files.join(' + ');
  const warnings: string[] = [];
  const reader = new SectionReader(merged, where);

  for (const [name, options] of merged) {
    if (IGNORED_SECTIONS.test(name)) continue;
    const known = name.startsWith('consumer:') ? CONSUMER_KEYS : KNOWN_SECTIONS[name];
    if (!known) {
      // A near miss of a section we read ([rabbit_brokr]) would silently fall back to defaults.
      const hint = suggest(name, [...Object.keys(KNOWN_SECTIONS), 'consumer:<queue>']);
      if (hint.startsWith('did you mean')) throw new ConfigError(where, `[${name}]`, `unknown section; ${hint.replace('?', ']?').replace('mean ', 'mean [')}`);
      warnings.push(`${where}: unknown section [${name}] ignored`);
      continue;
    }
    const unknown = [...options.keys()].filter((k) => !known.includes(k));
    if (unknown.length > 0) warnings.push(`${where}: [${name}] unknown keys ignored: ${unknown.join(', ')}`);
  }

  const queues = reader.required('consumers', 'queues').split(',').map((q) => q.trim()).filter(Boolean);
  if (queues.length === 0) throw reader.error('consumers', 'queues', 'lists no queue');

  const consumers = queues.map((queue): ConsumerConfig => {
    const section = `consumer:${queue}`;
    if (!merged.has(section)) throw new ConfigError(where, `[${section}]`, `section missing for queue "${queue}" listed in [consumers] queues`);
    const apps = reader.required(section, 'apps').split(',').map((a) => a.trim()).filter(Boolean);
    if (!apps.includes(WINCHESTER_HANDLER)) {
      throw reader.error(section, 'apps', `must include ${WINCHESTER_HANDLER} (the handler this worker implements)`);
    }
    for (const app of apps) {
      if (app !== WINCHESTER_HANDLER && app !== SHOEBOX_HANDLER) warnings.push(`${where}: [${section}] apps: ${app} is not implemented here and is skipped`);
    }
    const durable = reader.bool(section, 'durable', false);
    const autoDelete = reader.bool(section, 'auto_delete', false);
    const maxMessages = reader.int(section, 'max_messages', undefined, 1, 10_000);
    return {
      queue,
      exchange: reader.required(section, 'exchange'),
      exchangeType: reader.choice(section, 'exchange_type', ['topic', 'direct', 'fanout', 'headers'], 'topic'),
      routingKey: reader.optional(section, 'routing_key') ?? queue,
      durable,
      autoDelete,
      exchangeDurable: reader.boolOrDefault(section, 'exchange_durable', durable),
      exchangeAutoDelete: reader.boolOrDefault(section, 'exchange_auto_delete', autoDelete),
      maxMessages,
      batchTimeoutMs: reader.int(section, 'batch_timeout_ms', 50, 1, 60_000),
      prefetch: reader.int(section, 'prefetch', Math.min(10 * maxMessages, 65_535), maxMessages, 65_535),
      maxBodyBytes: reader.int(section, 'max_body_bytes', 1_048_576, 1024, 128 * 1_048_576),
      maxAttempts: reader.int(section, 'max_attempts', 5, 1, 1000),
      apps,
    };
  });

  const broker = brokerFrom(reader, env);
  const winchesterOption = reader.optional('winchester', 'config_file') ?? 'winchester.yaml';
  const winchesterConfigFile = locate(winchesterOption, cwd, files.map((f) => dirname(f)));
  if (!winchesterConfigFile) {
    throw reader.error('winchester', 'config_file', `${winchesterOption} not found (looked in ${cwd} and next to the yagi.conf)`);
  }
  const cell = options.cell ?? reader.optional('global', 'cell') ?? cellFromFileName(files[0]!);
  if (!/^[A-Za-z0-9_.-]+$/.test(cell)) throw reader.error('global', 'cell', `"${cell}" must be letters, digits, _ . or -`);

  const archiveQueues = consumers.filter((c) => c.apps.includes(SHOEBOX_HANDLER)).map((c) => c.queue);
  const archive = archiveQueues.length === 0 ? null : archiveFrom(reader, cwd, new Set(archiveQueues), warnings, where);

  return {
    files,
    cell,
    broker,
    consumers,
    winchesterConfigFile,
    archive,
    warnings,
  };
}

function archiveFrom(reader: SectionReader, cwd: string, queues: ReadonlySet<string>, warnings: string[], where: string): ArchiveConfig {
  const work = reader.optional('shoebox', 'working_directory');
  const dest = reader.optional('shoebox', 'destination_folder');
  if (!work && !dest) throw reader.error('shoebox', 'working_directory', `required by ${SHOEBOX_HANDLER} (or destination_folder)`);
  if (reader.bool('shoebox', 'wrap_payload_with_region', false)) {
    throw reader.error('shoebox', 'wrap_payload_with_region', 'True is not supported: archive lines are the bodies as received, so that `stv3 notigen --from-file` replays them; each cell has its own directory');
  }
  for (const key of ['filename_template', 'roll_manager', 'callback', 'roll_checker']) {
    const v = reader.optional('shoebox', key);
    if (v !== undefined) warnings.push(`${where}: [shoebox] ${key} = ${v} is not used: archive files are gzip JSON lines named <cell>_<begin>_<end>.json.gz`);
  }
  const rollSizeMb = reader.float('shoebox', 'roll_size_mb', 1000);
  const rollMinutes = reader.float('shoebox', 'roll_minutes', 60);
  if (rollSizeMb <= 0) throw reader.error('shoebox', 'roll_size_mb', 'must be more than 0');
  if (rollMinutes <= 0) throw reader.error('shoebox', 'roll_minutes', 'must be more than 0');
  return {
    workingDirectory: resolve(cwd, work ?? dest!),
    destinationFolder: resolve(cwd, dest ?? work!),
    rollSizeBytes: Math.round(rollSizeMb * 1024 * 1024),
    rollMinutes,
    queues,
  };
}

function brokerFrom(reader: SectionReader, env: NodeJS.ProcessEnv): BrokerConfig {
  const reconnectDelayMs = reader.float('rabbit_broker', 'reconnect_delay', 5) * 1000;
  const maxReconnectDelayMs = reader.float('rabbit_broker', 'max_wait', 30) * 1000; // upstream 600: a worker would wait up to 10 min after an outage
  const override = env['STV3_AMQP_URL'];
  let url: URL;
  if (override) {
    try {
      url = new URL(override);
    } catch {
      throw new ConfigError('environment', 'STV3_AMQP_URL', `not a URL: ${override}`);
    }
  } else {
    const ssl = reader.bool('rabbit_broker', 'ssl', false);
    url = new URL(`${ssl ? 'amqps' : 'amqp'}://localhost`);
    url.hostname = reader.optional('rabbit_broker', 'host') ?? 'localhost';
    url.port = String(reader.int('rabbit_broker', 'port', ssl ? 5671 : 5672, 1, 65_535));
    url.username = encodeURIComponent(reader.optional('rabbit_broker', 'user') ?? 'guest');
    url.password = encodeURIComponent(reader.optional('rabbit_broker', 'password') ?? 'guest');
    url.pathname = `/${encodeURIComponent(reader.optional('rabbit_broker', 'vhost') ?? '/')}`;
  }
  const display = new URL(url.href);
  if (display.password) display.password = '***';
  return { url: url.href, displayUrl: display.href, reconnectDelayMs, maxReconnectDelayMs: Math.max(maxReconnectDelayMs, reconnectDelayMs) };
}

function cellFromFileName(file: string): string {
  const m = /^yagi-(.+)\.conf$/.exec(basename(file));
  return m ? m[1]! : 'default';
}

class SectionReader {
  constructor(
    private readonly sections: ReadonlyMap<string, ReadonlyMap<string, IniOption & { file: string }>>,
    private readonly where: string,
  ) {}

  error(section: string, key: string, reason: string): ConfigError {
    const opt = this.sections.get(section)?.get(key);
    const at = opt ? `${opt.file}:${opt.line}` : this.where;
    return new ConfigError(at, `[${section}] ${key}`, reason);
  }

  optional(section: string, key: string): string | undefined {
    const v = this.sections.get(section)?.get(key)?.value;
    return v === undefined || v === '' ? undefined : v;
  }

  required(section: string, key: string): string {
    const v = this.optional(section, key);
    if (v === undefined) throw this.error(section, key, 'required key missing or empty');
    return v;
  }

  int(section: string, key: string, fallback: number | undefined, min: number, max: number): number {
    const v = fallback === undefined ? this.required(section, key) : this.optional(section, key);
    if (v === undefined) return fallback!;
    if (!/^\s*[-+]?\d+\s*$/.test(v)) throw this.error(section, key, `expected an integer, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw this.error(section, key, `${n} is out of range ${min}..${max}`);
    return n;
  }

  float(section: string, key: string, fallback: number): number {
    const v = this.optional(section, key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw this.error(section, key, `expected a non-negative number, got "${v}"`);
    return n;
  }

  /** Upstream compares with the literal "True"; we also take the other usual spellings. */
  bool(section: string, key: string, fallback: boolean): boolean {
    const v = this.optional(section, key);
    if (v === undefined) return fallback;
    const b = parseBool(v);
    if (b === null) throw this.error(section, key, `expected True or False, got "${v}"`);
    return b;
  }

  /** exchange_durable / exchange_auto_delete: True, False, or Default/None meaning "as the queue". */
  boolOrDefault(section: string, key: string, fallback: boolean): boolean {
    const v = this.optional(section, key);
    if (v === undefined || /^(default|none)$/i.test(v)) return fallback;
    return this.bool(section, key, fallback);
  }

  choice<T extends string>(section: string, key: string, allowed: readonly T[], fallback: T): T {
    const v = this.optional(section, key);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) throw this.error(section, key, `expected one of ${allowed.join(', ')}, got "${v}"`);
    return v as T;
  }
}

function parseBool(v: string): boolean | null {
  if (/^(true|yes|on|1)$/i.test(v)) return true;
  if (/^(false|no|off|0)$/i.test(v)) return false;
  return null;
}
