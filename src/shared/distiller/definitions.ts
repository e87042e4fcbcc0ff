/**
 * Validates parsed event_definitions.yaml (spec §3.1–§3.2) and compiles every definition into
 * matchers, JSONPath closures, converters and plugin instances, so distilling does no parsing
 * at all. (The file itself is read by config/yaml-file.ts with PyYAML's YAML 1.1 rules: the
 * shipped files build `compute.instance.exists` from `<<: *instance_traits` merge keys.)
 *
 * Validation is stricter than upstream's EventDefinitionException checks: besides missing
 * event_type/traits/fields, bad JSONPath, unknown type or plugin and non-mapping trait configs,
 * unknown keys (a misspelt `feilds:` or `typ:`) and bad plugin parameters are rejected. Every
 * error is a ConfigError naming the file, the key path (e.g. `[3].traits.memory_mb.type`) and
 * the reason.
 */
import { ConfigError, formatKeyPath, mapEachConfigured, toError } from '../errors.js';
import { ENVELOPE_KEYS, type TraitTypeName } from '../event.js';
import { EventTypeMatcher } from '../glob.js';
import { CONVERTERS, type Converter } from './convert.js';
import { compilePaths, type CompiledPath } from './jsonpath.js';
import { JsonPathSyntaxError, parseJsonPath, type PathNode } from './jsonpath-parser.js';
import { PluginParameterError, type TraitPlugin, type TraitPluginFactory } from './plugins.js';

export interface CompiledTrait {
  readonly name: string;
  readonly type: TraitTypeName;
  /** The raw value (§3.3 steps 1–2): first non-null match (non-empty unless text), or the plugin's result. */
  readonly extract: (body: Record<string, unknown>) => unknown;
  readonly convert: Converter;
  /** Named message_id/event_type/timestamp: converted (a bad value still fails) but the envelope wins. */
  readonly shadowedByEnvelope: boolean;
}

export interface CompiledDefinition {
  readonly matcher: EventTypeMatcher;
  /** Default traits first (in their place when overridden), then the definition's own. */
  readonly traits: readonly CompiledTrait[];
}

type KeyPath = readonly (string | number)[];

/** Added to every definition unless it defines a trait of the same name (§3.2). */
const DEFAULT_TRAITS: Readonly<Record<string, unknown>> = {
  service: { type: 'text', fields: 'publisher_id' },
  request_id: { type: 'text', fields: '_context_request_id' },
  tenant_id: { type: 'text', fields: ['payload.tenant_id', '_context_tenant'] },
};

/** What `catchall=True` appends when no definition is already a catch-all (§3.5). */
export const CATCH_ALL_DEFINITION: Readonly<Record<string, unknown>> = { event_type: '*', traits: {} };

const DEFINITION_KEYS = ['event_type', 'traits'];
const TRAIT_KEYS = ['fields', 'type', 'plugin'];
const PLUGIN_KEYS = ['name', 'parameters'];
const TRAIT_TYPES: readonly string[] = Object.keys(CONVERTERS);

/** Validates and compiles a parsed definitions list, in file order. */
export function compileDefinitions(
  config: unknown,
  source: string,
  plugins: Readonly<Record<string, TraitPluginFactory>>,
): CompiledDefinition[] {
  if (!Array.isArray(config)) throw new ConfigError(source, '', `must be a YAML list of event definitions, not ${kindOf(config)}`);
  return mapEachConfigured(config as unknown[], (definition, i) => compileDefinition(definition, [i], source, plugins));
}

export function compileDefinition(
  config: unknown,
  at: KeyPath,
  source: string,
  plugins: Readonly<Record<string, TraitPluginFactory>>,
): CompiledDefinition {
  const fail = (path: KeyPath, reason: string): ConfigError => new ConfigError(source, formatKeyPath(path), reason);
  const definition = mapping(config, at, 'an event definition {event_type, traits}', fail);
  rejectUnknownKeys(definition, DEFINITION_KEYS, at, fail);

  const eventType = definition['event_type'];
  if (eventType === undefined) throw fail([...at, 'event_type'], 'is required');
  const patterns = typeof eventType === 'string' ? [eventType] : eventType;
  if (!Array.isArray(patterns) || patterns.length === 0 || !patterns.every((p) => typeof p === 'string')) {
    throw fail([...at, 'event_type'], 'must be a pattern string or a non-empty list of pattern strings');
  }

  if (definition['traits'] === undefined) throw fail([...at, 'traits'], 'is required');
  const ownTraits = mapping(definition['traits'], [...at, 'traits'], 'a mapping of trait name to trait definition', fail);
  const traits = Object.entries({ ...DEFAULT_TRAITS, ...ownTraits }).map(([name, trait]) =>
    compileTrait(name, trait, [...at, 'traits', name], plugins, fail),
  );
  return { matcher: new EventTypeMatcher(patterns as string[]), traits };
}

type Fail = (path: KeyPath, reason: string) => ConfigError;

function compileTrait(
  name: string,
  config: unknown,
  at: KeyPath,
  plugins: Readonly<Record<string, TraitPluginFactory>>,
  fail: Fail,
): CompiledTrait {
  if (name === '__proto__') throw fail(at, 'is not a usable trait name');
  const trait = mapping(config, at, 'a trait definition {fields, type?, plugin?}', fail);
  rejectUnknownKeys(trait, TRAIT_KEYS, at, fail);

  const type = Object.hasOwn(trait, 'type') ? trait['type'] : 'text';
  if (typeof type !== 'string' || !TRAIT_TYPES.includes(type)) {
    throw fail([...at, 'type'], `must be one of ${TRAIT_TYPES.join(', ')}, not ${kindOf(type)}`);
  }

  const path = compileFields(trait['fields'], [...at, 'fields'], fail);
  const plugin = trait['plugin'] === undefined ? null : buildPlugin(trait['plugin'], [...at, 'plugin'], plugins, fail);
  const all = path.all;
  return {
    name,
    type: type as TraitTypeName,
    // "" converts only to text: other types take the next alternative of a union (jsonpath.ts).
    extract: plugin ? (body) => plugin.traitValue(all(body)) : type === 'text' ? path.first : path.firstNonEmpty,
    convert: CONVERTERS[type as TraitTypeName],
    shadowedByEnvelope: ENVELOPE_KEYS.has(name),
  };
}

function compileFields(fields: unknown, at: KeyPath, fail: Fail): CompiledPath {
  if (fields === undefined) throw fail(at, 'is required');
  const list: unknown = typeof fields === 'string' ? [fields] : fields;
  if (!Array.isArray(list) || list.length === 0) throw fail(at, 'must be a JSONPath string or a non-empty list of them');
  const nodes = list.map((item: unknown, i): PathNode => {
    const where = typeof fields === 'string' ? at : [...at, i];
    if (typeof item !== 'string') throw fail(where, `must be a JSONPath string, not ${kindOf(item)}`);
    try {
      return parseJsonPath(item);
    } catch (err) {
      if (err instanceof JsonPathSyntaxError) throw fail(where, err.message);
      throw err;
    }
  });
  return compilePaths(nodes as [PathNode, ...PathNode[]]);
}

function buildPlugin(
  config: unknown,
  at: KeyPath,
  plugins: Readonly<Record<string, TraitPluginFactory>>,
  fail: Fail,
): TraitPlugin {
  const spec = typeof config === 'string' ? { name: config } : mapping(config, at, 'a plugin name or {name, parameters}', fail);
  rejectUnknownKeys(spec, PLUGIN_KEYS, at, fail);
  const name = spec['name'];
  const nameAt = typeof config === 'string' ? at : [...at, 'name'];
  if (name === undefined) throw fail(nameAt, 'is required');
  const factory = typeof name === 'string' && Object.hasOwn(plugins, name) ? plugins[name] : undefined;
  if (!factory) throw fail(nameAt, `unknown plugin ${kindOf(name)} (available: ${Object.keys(plugins).join(', ')})`);
  const parametersAt = [...at, 'parameters'];
  const parameters = spec['parameters'] == null ? {} : mapping(spec['parameters'], parametersAt, 'a mapping of parameters', fail);
  try {
    return factory(parameters);
  } catch (err) {
    if (err instanceof PluginParameterError) throw fail([...parametersAt, err.parameter], err.message);
    throw fail(parametersAt, toError(err).message);
  }
}

function mapping(value: unknown, at: KeyPath, expected: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(at, `must be ${expected}, not ${kindOf(value)}`);
  }
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(config: Record<string, unknown>, known: readonly string[], at: KeyPath, fail: Fail): void {
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw fail([...at, key], `unknown key (expected ${known.join(', ')})`);
  }
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value) ?? String(value);
}
