/**
 * Where we are in a triggers file while validating it, and the typed readers that fail with a
 * ConfigError naming the file, the trigger (by name, or index if unnamed) and the key path:
 *   triggers.yaml: trigger "test_trigger" match_criteria[1].traits.memory_mb.numeric: unknown …
 *
 * Upstream accepted almost anything here and failed (or silently did nothing) at match time;
 * strict validation at load is the fix for spec §10 item 10. The readers also name the YAML 1.1
 * surprises of Appendix B (unquoted yes/no/on/off are booleans, 2015-02-27 is a date).
 */
import { ConfigError, formatKeyPath } from '../errors.js';

export type Mapping = Readonly<Record<string, unknown>>;

export class ConfigPath {
  readonly file: string;
  /** `trigger "name"` or `trigger [i]`; empty for the whole file. */
  readonly trigger: string;
  readonly keys: readonly (string | number)[];

  constructor(file: string, trigger = '', keys: readonly (string | number)[] = []) {
    this.file = file;
    this.trigger = trigger;
    this.keys = keys;
  }

  child(key: string | number): ConfigPath {
    return new ConfigPath(this.file, this.trigger, [...this.keys, key]);
  }

  /** "file: trigger "x" a.b[1]: reason" as text, for warnings. */
  describe(reason: string): string {
    return this.error(reason).message;
  }

  error(reason: string): ConfigError {
    const keyPath = [this.trigger, formatKeyPath(this.keys)].filter((part) => part !== '').join(' ');
    return new ConfigError(this.file, keyPath, reason);
  }

  mapping(value: unknown): Mapping {
    if (!isMapping(value)) throw this.error(`must be a mapping, got ${describeYaml(value)}`);
    return value;
  }

  list(value: unknown): readonly unknown[] {
    if (!Array.isArray(value)) throw this.error(`must be a list, got ${describeYaml(value)}`);
    return value;
  }

  string(value: unknown): string {
    if (typeof value !== 'string' || value === '') throw this.error(`must be a non-empty string, got ${describeYaml(value)}`);
    return value;
  }

  integer(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const n = asNumber(value);
    if (n === null || !Number.isInteger(n) || n < min || n > max) {
      throw this.error(`must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got ${describeYaml(value)}`);
    }
    return n;
  }

  /** A finite number ≥ 0. */
  nonNegative(value: unknown, unit: string): number {
    const n = asNumber(value);
    if (n === null || !Number.isFinite(n) || n < 0) throw this.error(`must be a number of ${unit} ≥ 0, got ${describeYaml(value)}`);
    return n;
  }

  /** Rejects keys outside `allowed` (with a did-you-mean) and missing `required` ones. */
  checkKeys(mapping: Mapping, allowed: readonly string[], required: readonly string[] = []): void {
    for (const key of Object.keys(mapping)) {
      if (!allowed.includes(key)) throw this.child(key).error(`unknown key (${suggest(key, allowed)})`);
    }
    for (const key of required) {
      if (mapping[key] === undefined || mapping[key] === null) throw this.child(key).error('required key is missing');
    }
  }
}

/** YAML numbers, whether parsed as number or (intAsBigInt) bigint. */
function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  return typeof value === 'bigint' ? Number(value) : null;
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** "did you mean x?" for a near miss, else the list of valid choices. */
export function suggest(key: string, choices: readonly string[]): string {
  if (choices.length === 0) return 'there are none';
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const choice of choices) {
    const d = editDistance(key.toLowerCase(), choice);
    if (d < bestDistance) [best, bestDistance] = [choice, d];
  }
  if (best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 4))) return `did you mean ${best}?`;
  return `expected one of: ${choices.join(', ')}`;
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** A short description of a YAML value for messages, naming the YAML 1.1 pitfalls. */
export function describeYaml(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (typeof value === 'boolean') return `the boolean ${value} (YAML reads unquoted yes/no/on/off/true/false as booleans; quote it for text)`;
  if (value instanceof Date) return `a date (YAML reads unquoted 2015-02-27 as a date; quote it for text)`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `the string ${JSON.stringify(value)}`;
  return `the number ${String(value)}`;
}
