/**
 * Loads triggers.yaml (spec §4.2) into compiled TriggerDefinitions, strictly: every problem is
 * a ConfigError naming the file, the trigger and the key path, raised before any process
 * starts work (spec §10 item 10). Upstream checked almost nothing and failed per event.
 *
 * Checked here (criteria blocks: load-criteria.ts): unknown keys with a did-you-mean, missing
 * required keys (name, expiration, match_criteria, fire_criteria, and fire_pipeline and/or
 * expire_pipeline), duplicate trigger names (upstream ran both at ingest but fired only the
 * last), malformed distinguished_by items, timex syntax and variables, and pipeline names
 * missing from pipelines.yaml when the caller passes them. An explicit null counts as absent.
 * `load_criteria` is accepted and ignored: upstream parsed it and never used it.
 */
import { loadPipelinesConfig, type PipelinesConfig } from '../config/pipelines-conf.js';
import { resolveConfigFile, type WinchesterConfig } from '../config/winchester-conf.js';
import { createHash } from 'node:crypto';
import { readYamlFile } from '../config/yaml-file.js';
import { ConfigPath, describeYaml, isMapping, suggest } from './config-path.js';
import { mapEachConfigured } from '../errors.js';
import type { DebugLevel } from './debugger.js';
import { TriggerDefinition } from './definition.js';
import { DistinguishedBy } from './distinguishing.js';
import { compileCriteria, type CriteriaContext } from './load-criteria.js';
import { compileTimex } from './load-timex.js';

export interface LoadTriggerOptions {
  /** The pipelines defined in pipelines.yaml; when given, fire/expire pipelines must be among them. */
  readonly pipelineNames?: ReadonlySet<string>;
  /**
   * Compatibility switch: accept winchester-etc's misspelled `map_distingushed_by` and ignore
   * it as upstream did (the definition's `warnings` say so). Off by default: it is an error.
   */
  readonly allowMisspelledMapDistinguishedBy?: boolean;
}

const TRIGGER_KEYS = [
  'name',
  'debug_level',
  'distinguished_by',
  'expiration',
  'fire_pipeline',
  'expire_pipeline',
  'fire_criteria',
  'match_criteria',
  'fire_delay',
  'load_criteria',
] as const;
const REQUIRED_KEYS = ['name', 'expiration', 'match_criteria', 'fire_criteria'] as const;
const EXPIRATION_VARIABLES = ['first', 'last', 'timestamp'];
const DISTINGUISHING_VARIABLES = ['timestamp'];

export function loadTriggerDefinitions(file: string, options: LoadTriggerOptions = {}): TriggerDefinition[] {
  return triggerDefinitionsFromValue(readYamlFile(file), file, options);
}

/** The same from an already-parsed YAML value; `source` names it in errors. */
export function triggerDefinitionsFromValue(value: unknown, source: string, options: LoadTriggerOptions = {}): TriggerDefinition[] {
  if (!Array.isArray(value)) throw new ConfigPath(source).error(`must be a list of trigger definitions, got ${describeYaml(value)}`);
  const firstIndex = new Map<string, number>();
  return mapEachConfigured(value as unknown[], (raw, index) => {
    const definition = compileTrigger(raw, index, source, options);
    const previous = firstIndex.get(definition.name);
    if (previous !== undefined) {
      throw new ConfigPath(source, `trigger [${index}]`, ['name']).error(
        `duplicate trigger name ${JSON.stringify(definition.name)} (also trigger [${previous}]); stream names must be unique`,
      );
    }
    firstIndex.set(definition.name, index);
    return definition;
  });
}

function compileTrigger(raw: unknown, index: number, source: string, options: LoadTriggerOptions): TriggerDefinition {
  const named = isMapping(raw) && typeof raw['name'] === 'string' && raw['name'] !== '';
  const path = new ConfigPath(source, named ? `trigger ${JSON.stringify(raw['name'])}` : `trigger [${index}]`);
  const trigger = path.mapping(raw);
  path.checkKeys(trigger, TRIGGER_KEYS, REQUIRED_KEYS);
  const name = path.child('name').string(trigger['name']);

  const firePipeline = compilePipeline(trigger['fire_pipeline'], path.child('fire_pipeline'), options);
  const expirePipeline = compilePipeline(trigger['expire_pipeline'], path.child('expire_pipeline'), options);
  if (firePipeline === null && expirePipeline === null) throw path.error('needs fire_pipeline or expire_pipeline (or both)');

  const distinguishedBy = compileDistinguishedBy(trigger['distinguished_by'] ?? [], path.child('distinguished_by'));
  const context: CriteriaContext = {
    distinguishedBy: new Set(distinguishedBy.map((d) => d.name)),
    allowMisspelledMapDistinguishedBy: options.allowMisspelledMapDistinguishedBy ?? false,
    warnings: [],
  };
  const compileList = (key: string) => {
    const listPath = path.child(key);
    return listPath.list(trigger[key]).map((criteria, i) => compileCriteria(criteria, listPath.child(i), context));
  };
  const matchCriteria = compileList('match_criteria');
  if (matchCriteria.length === 0) throw path.child('match_criteria').error('must list at least one criteria block');

  return new TriggerDefinition({
    name,
    debugLevel: trigger['debug_level'] == null ? 0 : (path.child('debug_level').integer(trigger['debug_level'], 0, 2) as DebugLevel),
    distinguishedBy,
    expiration: compileTimex(trigger['expiration'], path.child('expiration'), EXPIRATION_VARIABLES),
    firePipeline,
    expirePipeline,
    fireDelaySeconds: trigger['fire_delay'] == null ? 0 : path.child('fire_delay').nonNegative(trigger['fire_delay'], 'seconds'),
    matchCriteria,
    fireCriteria: compileList('fire_criteria'),
    fireCriteriaKey: fingerprint(trigger['fire_criteria']),
    warnings: context.warnings,
  });
}

/**
 * A short fingerprint of a criteria block as written (keys sorted), kept with each stream so
 * that a changed fire_criteria is noticed and the stream's counts rebuilt (store/streams.ts).
 */
function fingerprint(raw: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v !== null && typeof v === 'object' && !(v instanceof Date) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(raw), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
    .digest('hex')
    .slice(0, 16);
}

function compilePipeline(raw: unknown, path: ConfigPath, options: LoadTriggerOptions): string | null {
  if (raw == null) return null;
  const name = path.string(raw);
  if (options.pipelineNames !== undefined && !options.pipelineNames.has(name)) {
    throw path.error(`unknown pipeline ${JSON.stringify(name)}, not in pipelines.yaml (${suggest(name, [...options.pipelineNames])})`);
  }
  return name;
}

/** Items: a trait name, or `{trait: timex}` seeing only $timestamp (bound to the source trait). */
function compileDistinguishedBy(raw: unknown, path: ConfigPath): DistinguishedBy[] {
  const seen = new Set<string>();
  return path.list(raw).map((item, i) => {
    const itemPath = path.child(i);
    let result: DistinguishedBy;
    if (typeof item === 'string') {
      result = new DistinguishedBy(itemPath.string(item), null);
    } else if (isMapping(item) && Object.keys(item).length === 1) {
      const [name, expression] = Object.entries(item)[0]!;
      result = new DistinguishedBy(name, compileTimex(expression, itemPath.child(name), DISTINGUISHING_VARIABLES));
    } else {
      throw itemPath.error(`must be a trait name or a single-key mapping {trait: timex expression}, got ${describeYaml(item)}`);
    }
    if (seen.has(result.name)) throw itemPath.error(`duplicate distinguished_by name ${JSON.stringify(result.name)}`);
    seen.add(result.name);
    return result;
  });
}

/**
 * The triggers.yaml that winchester.yaml names (none: []), checked against pipelines.yaml
 * when given. Throws ConfigError.
 */
export function loadTriggers(winchester: WinchesterConfig, pipelines?: PipelinesConfig | null): TriggerDefinition[] {
  if (!winchester.raw.trigger_definitions) return [];
  return loadTriggerDefinitions(resolveConfigFile(winchester, 'trigger_definitions'), {
    ...(pipelines ? { pipelineNames: new Set(pipelines.pipelines.keys()) } : {}),
    allowMisspelledMapDistinguishedBy: winchester.raw.allow_misspelled_map_distinguished_by,
  });
}

/** pipelines.yaml as winchester.yaml names it, or null when it names none. Throws ConfigError. */
export function loadPipelinesOf(winchester: WinchesterConfig): PipelinesConfig | null {
  return winchester.raw.pipeline_config ? loadPipelinesConfig(resolveConfigFile(winchester, 'pipeline_config')) : null;
}
