/**
 * Writes a cell's yagi.conf and its winchester.yaml into a fresh temporary directory, pointing
 * at a test database and random exchange/queue names, with the upstream sandbox definitions
 * (fixtures/stacktach-upstream/sandbox, unmodified) found through config_path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { amqpUrl } from './amqp.js';
import { ConfigError } from '../../src/shared/errors.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
export const UPSTREAM = join(FIXTURES, 'stacktach-upstream');
export const SANDBOX = join(UPSTREAM, 'sandbox');
export const GOLDEN = join(FIXTURES, 'golden');

export interface CellConfigOptions {
  databaseUrl: string;
  exchange: string;
  queue: string;
  routingKey?: string;
  cell?: string;
  maxMessages?: number;
  /** Extra lines for [consumer:<queue>]. */
  consumerExtra?: string;
  /** Extra winchester.yaml text (appended). */
  winchesterExtra?: string;
  durable?: boolean;
  /** Directory with event_definitions.yaml etc. (default: the upstream sandbox). */
  configDir?: string;
  /** Search the config's own directory first, so a test can put its own triggers/pipelines there. */
  localFilesFirst?: boolean;
}

export interface CellConfig {
  readonly dir: string;
  readonly yagiConf: string;
  readonly winchesterYaml: string;
}

export function writeCellConfig(o: CellConfigOptions): CellConfig {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-test-'));
  const broker = new URL(amqpUrl());
  const yagiConf = join(dir, `yagi-${o.cell ?? 'cell1'}.conf`);
  const winchesterYaml = join(dir, 'winchester.yaml');
  writeFileSync(
    yagiConf,
    `[global]
update_timer = 10

[rabbit_broker]
host = ${broker.hostname}
port = ${broker.port || 5672}
user = ${decodeURIComponent(broker.username) || 'guest'}
password = ${decodeURIComponent(broker.password) || 'guest'}
vhost = /

[consumers]
queues = ${o.queue}

[consumer:${o.queue}]
apps = winchester.yagi_handler.WinchesterHandler
exchange = ${o.exchange}
exchange_type = topic
routing_key = ${o.routingKey ?? o.queue}
durable = ${o.durable ? 'True' : 'False'}
max_messages = ${o.maxMessages ?? 100}
${o.consumerExtra ?? ''}

[winchester]
config_file = ${winchesterYaml}
`,
  );
  writeFileSync(winchesterYaml, winchesterYamlText({ databaseUrl: o.databaseUrl, configPath: [...(o.localFilesFirst ? [dir] : []), o.configDir ?? SANDBOX], extra: o.winchesterExtra }));
  return { dir, yagiConf, winchesterYaml };
}

/**
 * A test winchester.yaml: the given database and config_path, statistics every second, the
 * upstream handler names, and `extra` lines appended (more handlers, time sync, …).
 */
export function winchesterYamlText(o: { databaseUrl: string; configPath: readonly string[]; handlers?: Record<string, string>; extra?: string | undefined }): string {
  const handlers = {
    logger: 'winchester.pipeline_handler:LoggingHandler',
    usage: 'winchester.pipeline_handler:UsageHandler',
    notabene: 'winchester.pipeline_handler:NotabeneHandler',
    ...o.handlers,
  };
  return `config_path:
${o.configPath.map((p) => `  - ${p}`).join('\n')}
statistics_period: 1
catch_all_notifications: false
database:
  url: ${o.databaseUrl}
distiller_config: event_definitions.yaml
trigger_definitions: triggers.yaml
pipeline_config: pipelines.yaml
purge_completed_streams: false
pipeline_handlers:
${Object.entries(handlers).map(([k, v]) => `  ${k}: ${v}`).join('\n')}
${o.extra ?? ''}
`;
}

/**
 * A triggers.yaml and pipelines.yaml in `dir` whose streams (one per instance) fire as soon as
 * the instance's create.end is in, running the logger: quick completed streams for process tests.
 */
export function writeFireOnCreate(dir: string): void {
  writeFileSync(
    join(dir, 'triggers.yaml'),
    `- name: created
  distinguished_by: [instance_id]
  expiration: "$last + 1d"
  fire_pipeline: done
  match_criteria: [{event_type: "compute.instance.*"}]
  fire_criteria: [{event_type: compute.instance.create.end}]
`,
  );
  writeFileSync(join(dir, 'pipelines.yaml'), 'done: [logger]\n');
}

/** The ConfigError that `fn` throws; any other error is rethrown, and no error fails the test. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
