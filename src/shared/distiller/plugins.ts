/**
 * Trait plugins (spec §3.4): a plugin turns all of a trait's JSONPath matches into one value,
 * which is then converted to the trait's type like any other value.
 *
 * A factory is called once per trait definition at load time with the definition's
 * `parameters`, so parameters are validated before any notification is seen. Unlike upstream,
 * which silently ignored unknown parameter names (a misspelt `max_splits` had no effect), the
 * built-in plugins reject them: a config mistake should stop the process, not skew billing data.
 *
 * Built-ins, as stackdistiller's DEFAULT_PLUGINMAP:
 *  - split: str() of the first match, split on `separator` (default ".") at most `max_split`
 *    times (default unlimited), element `segment` (default 0, negative counts from the end);
 *    no match or no such element → no trait.
 *  - bitfield: `initial_bitfield` (default 0) OR 2**bit for each of `flags: [{path, bit, value?}]`
 *    whose path is among the matches' path strings and, when `value` is given, whose match
 *    equals it (Python ==). Always yields a number (a bigint, so any bit is exact).
 *
 * And Ceilometer's (ceilometer/event/trait_plugins.py), for definitions written for it:
 *  - timedelta: no parameters; exactly two matches, both date strings (iso8601.ts) → the
 *    absolute difference in seconds, a float with µs precision (`[created_at, launched_at]`
 *    → seconds to boot). Any other number of matches, or a value that is not a date → no trait
 *    (Ceilometer logged a warning and returned None).
 */
import { parseIso8601 } from './iso8601.js';
import type { TraitMatch } from './jsonpath.js';
import { pyEquals, pySplit, pyStr } from './python.js';

export type { TraitMatch } from './jsonpath.js';

export interface TraitPlugin {
  /** Called for every notification, even with no matches; null/undefined → no trait. */
  traitValue(matches: readonly TraitMatch[]): unknown;
}

export type TraitPluginFactory = (parameters: Readonly<Record<string, unknown>>) => TraitPlugin;

/** Thrown by a factory for a bad parameter; the loader reports it with the key path. */
export class PluginParameterError extends Error {
  /** Key path below `parameters`, e.g. `separator` or `flags[1].bit`. */
  readonly parameter: string;

  constructor(parameter: string, reason: string) {
    super(reason);
    this.name = 'PluginParameterError';
    this.parameter = parameter;
  }
}

export const BUILTIN_PLUGINS: Readonly<Record<string, TraitPluginFactory>> = {
  split: splitPlugin,
  bitfield: bitfieldPlugin,
  timedelta: timedeltaPlugin,
};

function splitPlugin(parameters: Readonly<Record<string, unknown>>): TraitPlugin {
  rejectUnknown(parameters, ['separator', 'segment', 'max_split'], '');
  const separator = parameters['separator'] ?? '.';
  if (typeof separator !== 'string' || separator === '') {
    throw new PluginParameterError('separator', 'must be a non-empty string');
  }
  const segment = integer(parameters, 'segment', 0, '');
  const maxSplit = parameters['max_split'] == null ? null : integer(parameters, 'max_split', 0, '');
  return {
    traitValue(matches) {
      const first = matches[0];
      if (first === undefined) return null;
      const parts = pySplit(pyStr(first[1]), separator, maxSplit);
      return parts[segment < 0 ? parts.length + segment : segment] ?? null;
    },
  };
}

interface Flag {
  readonly path: string;
  readonly bit: bigint;
  readonly compare: boolean;
  readonly value: unknown;
}

function bitfieldPlugin(parameters: Readonly<Record<string, unknown>>): TraitPlugin {
  rejectUnknown(parameters, ['initial_bitfield', 'flags'], '');
  const initial = BigInt(integer(parameters, 'initial_bitfield', 0, ''));
  const flagsParam = parameters['flags'] ?? [];
  if (!Array.isArray(flagsParam)) throw new PluginParameterError('flags', 'must be a list of {path, bit, value?}');
  const flags = flagsParam.map((raw: unknown, i): Flag => {
    const where = `flags[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new PluginParameterError(where, 'must be a mapping {path, bit, value?}');
    }
    const flag = raw as Record<string, unknown>;
    rejectUnknown(flag, ['path', 'bit', 'value'], `${where}.`);
    if (typeof flag['path'] !== 'string') throw new PluginParameterError(`${where}.path`, 'must be a path string');
    if (flag['bit'] === undefined) throw new PluginParameterError(`${where}.bit`, 'is required');
    const bit = integer(flag, 'bit', 0, `${where}.`);
    if (bit < 0) throw new PluginParameterError(`${where}.bit`, 'must not be negative');
    return { path: flag['path'], bit: 1n << BigInt(bit), compare: Object.hasOwn(flag, 'value'), value: flag['value'] };
  });
  return {
    traitValue(matches) {
      let bits = initial;
      if (flags.length === 0) return bits;
      const byPath = new Map(matches); // a later match of the same path wins, as with dict()
      for (const flag of flags) {
        if (!byPath.has(flag.path)) continue;
        if (!flag.compare || pyEquals(byPath.get(flag.path), flag.value)) bits |= flag.bit;
      }
      return bits;
    },
  };
}

function timedeltaPlugin(parameters: Readonly<Record<string, unknown>>): TraitPlugin {
  rejectUnknown(parameters, [], '');
  return {
    traitValue(matches) {
      if (matches.length !== 2) return null;
      const [start, end] = matches.map(([, value]) => (typeof value === 'string' ? parseDate(value) : null));
      if (!start || !end) return null;
      return Math.abs(end.diffMicros(start)) / 1e6;
    },
  };
}

function parseDate(text: string): ReturnType<typeof parseIso8601> | null {
  try {
    return parseIso8601(text);
  } catch {
    return null;
  }
}

function rejectUnknown(parameters: Readonly<Record<string, unknown>>, known: readonly string[], prefix: string): void {
  for (const name of Object.keys(parameters)) {
    if (!known.includes(name)) {
      const expected = known.length === 0 ? 'this plugin takes none' : `expected one of ${known.join(', ')}`;
      throw new PluginParameterError(`${prefix}${name}`, `unknown parameter (${expected})`);
    }
  }
}

function integer(parameters: Readonly<Record<string, unknown>>, name: string, fallback: number, prefix: string): number {
  const value = parameters[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new PluginParameterError(`${prefix}${name}`, 'must be an integer');
  return value;
}
