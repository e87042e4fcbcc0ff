/**
 * winchester.yaml (spec §4.1), validated with zod at start. Upstream's files load unchanged;
 * a wrong type or missing key stops the process with file, key path and reason; unknown keys
 * give a warning naming them.
 *
 * The files it names (distiller_config, trigger_definitions, pipeline_config) are searched in
 * `config_path` (relative entries against the cwd, as upstream, and also against winchester.yaml's
 * directory) and then in winchester.yaml's own directory, so a config directory works from anywhere.
 *
 * Keys we add (optional, documented in README "Configuration"):
 *   indexed_traits          trait names also written to the typed `trait` table, for queries
 *                           by value (default: instance_id, tenant_id, request_id, user_id)
 *   allow_misspelled_map_distinguished_by
 *                           load triggers.yaml files with upstream's `map_distingushed_by`
 *                           typo, ignoring the key as upstream did (default false: an error)
 *   pipeline_worker_poll_ms idle poll interval of a pipeline worker (250; never more than
 *                           pipeline_worker_delay)
 *   pipeline_lease_seconds  how long a claimed stream is held before another worker may take it (60)
 *   pipeline_max_attempts   lease expiries after which a stream goes to error (3)
 *   pipeline_error_retries  automatic retries of a failing pipeline (0, as upstream: an operator
 *                           retries), after pipeline_error_retry_seconds × 2^n (30)
 *   pipeline_claim_strategy skip_locked (default) or serial (upstream's state_serial_no protocol)
 *   pipeline_shutdown_grace_seconds  time to finish the streams in hand on SIGTERM (10)
 *   time_sync_poll_seconds  how often a pipeline worker asks the time-sync endpoint (20)
 *   api_token               bearer token the API requires for its mutating routes (reset, delete,
 *                           replay); STV3_API_TOKEN overrides it
 *   api_token_file          a file holding that token (first line), instead of api_token
 *   api_read_only           the API refuses every mutating route (false)
 *   api_trait_scan_max_seconds  longest from_datetime..to_datetime range the API reads to match
 *                           traits that are not indexed (86400)
 *   retention               per event type (name or fnmatch pattern, e.g. `compute.instance.update`)
 *                           how long its events are kept: a duration (`7d`, `12h`, `1y 6mo`) or
 *                           `never` (kept forever); `default` for the other types (else
 *                           trim_events_age). See store/retention.ts.
 *   trim_completed_streams_age  completed streams whose last event is older than this duration
 *                           are deleted with their streamevent and dist_trait rows (default: kept)
 *   trim_quarantine_age     quarantine rows received longer ago are deleted (default: never touched)
 *   trim_interval_seconds   how often a pipeline worker tries to trim when trim_events is true (300)
 *   trim_max_seconds        longest one trim run of a pipeline worker may take (30)
 *   trim_pause_ms           pause between two delete batches, so ingest keeps its pace (100)
 */
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, formatKeyPath } from '../errors.js';
import { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { locate } from './locate.js';
import { readYamlFile } from './yaml-file.js';
import { parseTimex, type TimexExpression } from '../timex/index.js';
import { DateTime } from '../time.js';

/**
 * A retention age as written in winchester.yaml: a timex duration (`7d`, `12h`, `1y 6mo`, units
 * us s m h d mo y), compiled as `$timestamp - <duration>`, or `never`. Throws an Error saying why.
 */
export function parseRetentionAge(text: string): TimexExpression | 'never' {
  const t = text.trim();
  if (t === 'never') return 'never';
  if (!/^(\d+\s*(us|s|sec|m|min|h|hr|d|mo|y|yr)\s*)+$/.test(t)) throw new Error(`expected a duration such as 7d, 12h or "1y 6mo", or never; got ${JSON.stringify(text)}`);
  return parseTimex(`$timestamp - ${t}`);
}

/** trim_events_age: any timex expression that evaluates to a time (upstream's `$timestamp - 14d`). */
function checkTimexAge(text: string): string | null {
  try {
    parseTimex(text).evaluate({}, DateTime.now());
    return null;
  } catch (err) {
    return `not a valid timex expression (${(err as Error).message})`;
  }
}

const retentionAge = z.string().superRefine((v, ctx) => {
  try {
    parseRetentionAge(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const boolish = z.boolean();
const positive = z.number().positive();

const schema = z.object({
  config_path: z.union([z.string(), z.array(z.string())]).default('.'),
  database: z.object({
    url: z.string().min(1),
    echo_sql: boolish.default(false),
  }),
  distiller_config: z.string().min(1).optional(),
  distiller_trait_plugins: z.union([z.record(z.string(), z.string()), z.array(z.unknown()), z.null()]).optional(),
  catch_all_notifications: boolish.default(false),
  trigger_definitions: z.string().min(1).optional(),
  time_sync_endpoint: z.url().optional(),
  statistics_period: positive.default(10),
  pipeline_handlers: z.record(z.string(), z.string()).default({}),
  pipeline_config: z.string().min(1).optional(),
  pipeline_worker_batch_size: z.number().int().positive().default(1000),
  pipeline_worker_delay: z.number().nonnegative().default(10),
  purge_completed_streams: boolish.default(true),
  trim_events: boolish.default(false),
  trim_events_age: z
    .string()
    .default('$timestamp - 14d')
    .superRefine((v, ctx) => {
      const problem = checkTimexAge(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  trim_events_batch_size: z.number().int().positive().max(100_000).default(100),
  retention: z.record(z.string().min(1), retentionAge).optional(),
  trim_completed_streams_age: retentionAge.optional(),
  trim_quarantine_age: retentionAge.optional(),
  trim_interval_seconds: positive.default(300),
  trim_max_seconds: positive.default(30),
  trim_pause_ms: z.number().int().nonnegative().default(100),
  log_level: z.string().default('info'),
  log_file: z.string().optional(),
  logging_config: z.string().optional(),
  indexed_traits: z.array(z.string().min(1)).default(['instance_id', 'tenant_id', 'request_id', 'user_id']),
  allow_misspelled_map_distinguished_by: boolish.default(false),
  pipeline_worker_poll_ms: z.number().int().positive().default(250),
  pipeline_lease_seconds: positive.default(60),
  pipeline_max_attempts: z.number().int().positive().default(3),
  pipeline_error_retries: z.number().int().nonnegative().default(0),
  pipeline_error_retry_seconds: positive.default(30),
  pipeline_claim_strategy: z.enum(['skip_locked', 'serial']).default('skip_locked'),
  pipeline_shutdown_grace_seconds: z.number().nonnegative().default(10),
  time_sync_poll_seconds: positive.default(20),
  api_token: z.string().min(16, 'at least 16 characters').optional(),
  api_token_file: z.string().min(1).optional(),
  api_read_only: boolish.default(false),
  api_trait_scan_max_seconds: positive.default(86_400),
});

export type WinchesterYaml = z.output<typeof schema>;

export interface WinchesterConfig {
  readonly file: string;
  readonly raw: WinchesterYaml;
  readonly database: DatabaseTarget;
  /** Directories searched for the other files, in order. */
  readonly searchPath: readonly string[];
  readonly warnings: readonly string[];
}

export interface LoadWinchesterOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function loadWinchesterConfig(path: string, options: LoadWinchesterOptions = {}): WinchesterConfig {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = resolve(cwd, path);
  const data = readYamlFile(file);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(file, '', 'expected a mapping of settings at the top level');
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(file, formatKeyPath(issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))), issue.message);
  }
  const raw = parsed.data;
  const warnings: string[] = [];
  const unknown = Object.keys(data).filter((k) => !(k in schema.shape));
  if (unknown.length > 0) warnings.push(`${file}: unknown keys ignored: ${unknown.join(', ')}`);
  if (raw.trim_completed_streams_age && raw.purge_completed_streams) {
    warnings.push(`${file}: trim_completed_streams_age has nothing to do while purge_completed_streams is true (completed streams are deleted as they complete)`);
  }
  if (raw.logging_config) warnings.push(`${file}: logging_config (${raw.logging_config}) is a Python logging file and is not used; logs go to stdout as JSON (pino)`);
  const plugins = raw.distiller_trait_plugins;
  if (plugins && (Array.isArray(plugins) ? plugins.length > 0 : Object.keys(plugins).length > 0)) {
    throw new ConfigError(file, 'distiller_trait_plugins', 'Python trait plugins cannot be loaded; remove the key (the built-in split and bitfield plugins are always available)');
  }

  const dbUrl = env['STV3_DATABASE_URL'] || raw.database.url;
  let database: DatabaseTarget;
  try {
    database = parseDatabaseUrl(dbUrl);
  } catch (err) {
    throw new ConfigError(env['STV3_DATABASE_URL'] ? 'environment' : file, env['STV3_DATABASE_URL'] ? 'STV3_DATABASE_URL' : 'database.url', (err as Error).message);
  }
  const configPath = typeof raw.config_path === 'string' ? [raw.config_path] : raw.config_path;
  // Relative entries: against the cwd as upstream, then against winchester.yaml's directory.
  const searchPath = [...new Set([...configPath.flatMap((p) => [resolve(cwd, p), resolve(dirname(file), p)]), dirname(file)])];
  return { file, raw, database, searchPath, warnings };
}

/** Resolves one of the files winchester.yaml names (key = its key there). */
export function resolveConfigFile(config: WinchesterConfig, key: 'distiller_config' | 'trigger_definitions' | 'pipeline_config'): string {
  const name = config.raw[key];
  if (!name) throw new ConfigError(config.file, key, 'required key missing');
  const found = locate(name, config.searchPath[0]!, config.searchPath.slice(1));
  if (!found) throw new ConfigError(config.file, key, `${name} not found in config_path (${config.searchPath.join(', ')})`);
  return found;
}
