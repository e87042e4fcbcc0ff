/** Argument parsing shared by the verbs: values that are wrong are usage errors (exit 2). */
import { CliError, ExitCode } from './errors.js';

/** A positive integer id. */
export function parseId(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) throw new CliError(`${what} must be a positive integer, got "${text}"`, ExitCode.usage);
  return Number(text);
}

/** A whole number from 1 to max (e.g. --limit). */
export function parseCount(text: string, what: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new CliError(`${what} must be a whole number from 1 to ${max}, got "${text}"`, ExitCode.usage);
  return Number(text);
}

export interface TraitConditionArg {
  readonly name: string;
  readonly op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
  readonly type: 'string' | 'integer' | 'float' | 'datetime';
  readonly value: string;
}

const OPS: Readonly<Record<string, TraitConditionArg['op']>> = { '=': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' };
const TYPES: Readonly<Record<string, TraitConditionArg['type']>> = { string: 'string', int: 'integer', integer: 'integer', float: 'float', datetime: 'datetime' };

/**
 * `--traits` items, comma-separated (the option may be repeated): `name=value` (string
 * equality), `name:TYPE OP value` with TYPE int, float, datetime or string and OP one of
 * = != < <= > >=, e.g. `memory_mb:int>=1024`, and klugman's `name:value`. Values may contain
 * `:` and `=`; a comma in a value is written `\,` (and a backslash before a comma `\\`).
 * Throws CliError (usage) naming an item it cannot read.
 */
export function parseTraitConditions(items: readonly string[]): TraitConditionArg[] {
  return items
    .flatMap(splitOnCommas)
    .filter((item) => item.trim() !== '')
    .map((item) => {
      const m = /^([^=!<>:]+?)(?::(string|int|integer|float|datetime))?\s*(!=|<=|>=|=|<|>)(.*)$/.exec(item.trim());
      if (m) return { name: m[1]!.trim(), type: TYPES[m[2] ?? 'string']!, op: OPS[m[3]!]!, value: m[4]!.trim() };
      const colon = item.indexOf(':');
      if (colon > 0) return { name: item.slice(0, colon).trim(), type: 'string' as const, op: 'eq' as const, value: item.slice(colon + 1).trim() };
      throw new CliError(`--traits: cannot read ${JSON.stringify(item)}; use name=value, or name:int>=1024 (types int float datetime string; operators = != < <= > >=)`, ExitCode.usage);
    });
}

/** `text` split at each comma not written `\,`; `\,` becomes `,` and `\\` a backslash. */
function splitOnCommas(text: string): string[] {
  const items: string[] = [];
  let item = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '\\' && (next === ',' || next === '\\')) {
      item += next;
      i++;
    } else if (c === ',') {
      items.push(item);
      item = '';
    } else {
      item += c;
    }
  }
  items.push(item);
  return items;
}
