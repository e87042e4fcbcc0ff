/**
 * Reading request parameters (spec §7.2) strictly: anything wrong is a 400 whose message names
 * the parameter and says what is expected (upstream answered 500, or silently used a default).
 *
 * Trait filters, all AND-ed:
 *  - upstream's `traits` / `distinguishing_traits`: `name:value;name:value`, string equality;
 *    the value is everything after the first `:` (so ISO times and URLs survive);
 *  - Panko's typed form, repeatable: `q.field=NAME&q.op=OP&q.type=TYPE&q.value=VALUE`, matched
 *    by position; op one of eq ne lt le gt ge (default eq), type one of string integer (or
 *    int) float datetime (default string). q.op / q.type are given for every q.field or for none.
 */
import { FILTER_OPS, type FilterOp, type Page, type SortDirection, type TraitFilter } from '../shared/store/query-terms.js';
import { StreamState } from '../shared/store/stream-states.js';
import { DateTime } from '../shared/time.js';
import { ApiError } from './errors.js';

export type Query = Readonly<Record<string, string | string[] | undefined>>;

export const DEFAULT_LIMIT = 200;
export const MAX_LIMIT = 1000;

function bad(parameter: string, message: string): ApiError {
  return new ApiError(400, `${parameter}: ${message}`, parameter);
}

/** A parameter given at most once. */
export function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) {
    if (v.length > 1) throw bad(name, `given ${v.length} times; give it once`);
    return v[0];
  }
  return v;
}

function all(query: Query, name: string): string[] {
  const v = query[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * ISO 8601 in UTC: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.ffffff]]` (or a space for T), optionally
 * with `Z` or an offset (converted to UTC). A `+` that form decoding turned into a space is
 * read as `+`.
 */
export function parseDateTime(text: string, parameter: string): DateTime {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+\- ]\d{2}:?\d{2})?$/.exec(text.trim());
  const example = 'e.g. 2015-02-27T15:27:18.603932 (UTC) or 2015-02-27';
  if (!m) throw bad(parameter, `cannot read ${JSON.stringify(text)} as a datetime; ${example}`);
  try {
    const dt = DateTime.of(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), m[7] ? +m[7].padEnd(6, '0') : 0);
    const offset = m[8];
    if (!offset || offset === 'Z') return dt;
    const sign = offset[0] === '-' ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    return dt.plusSeconds(-sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2)) * 60));
  } catch (err) {
    throw bad(parameter, `${JSON.stringify(text)} is not a valid datetime (${(err as Error).message}); ${example}`);
  }
}

export function optionalDateTime(query: Query, name: string): DateTime | undefined {
  const v = single(query, name);
  return v === undefined || v === '' ? undefined : parseDateTime(v, name);
}

/** `limit`: 1..1000, default 200. */
export function parseLimit(query: Query): number {
  const v = single(query, 'limit');
  if (v === undefined || v === '') return DEFAULT_LIMIT;
  if (!/^\d+$/.test(v.trim())) throw bad('limit', `expected a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(v)}`);
  const n = Number(v.trim());
  if (n < 1 || n > MAX_LIMIT) throw bad('limit', `must be from 1 to ${MAX_LIMIT}, got ${n}`);
  return n;
}

/** `mark`: `<hex>`, `-<hex>`, `+<hex>`, `+`, `-` (spec §7.2 paging). */
export function parseMark(query: Query): Pick<Page, 'direction' | 'after'> {
  const raw = single(query, 'mark');
  if (raw === undefined || raw === '') return { direction: 'desc', after: null };
  // Form decoding turns an unescaped `+` into a space.
  const v = raw.startsWith(' ') ? `+${raw.slice(1)}` : raw;
  const m = /^([+-]?)([0-9a-fA-F]*)$/.exec(v);
  if (!m || (m[1] === '' && m[2] === '') || (m[2] ?? '').length > 13) {
    throw bad('mark', `expected a _mark from a previous page (hex, optionally prefixed + or -), got ${JSON.stringify(raw)}`);
  }
  const direction: SortDirection = m[1] === '+' ? 'asc' : 'desc';
  return { direction, after: m[2] ? parseInt(m[2], 16) : null };
}

export function parsePage(query: Query): Page {
  return { ...parseMark(query), limit: parseLimit(query) };
}

/** `state`: a state name (any case) or its code. */
export function parseState(query: Query): number | undefined {
  const v = single(query, 'state');
  if (v === undefined || v === '') return undefined;
  const name = v.trim().toLowerCase();
  // Own keys only: "constructor" or "__proto__" are not states.
  if (Object.hasOwn(StreamState, name)) return (StreamState as Record<string, number>)[name];
  if (/^[1-8]$/.test(v.trim())) return Number(v.trim());
  throw bad('state', `unknown state ${JSON.stringify(v)}; one of ${Object.keys(StreamState).join(', ')}`);
}

/** `details`: true/1/yes/on or false/0/no/off (upstream took any non-empty text, even "false", as true). */
export function parseBoolean(query: Query, name: string): boolean {
  const v = single(query, name);
  if (v === undefined || v === '') return false;
  const t = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on', 't', 'y'].includes(t)) return true;
  if (['false', '0', 'no', 'off', 'f', 'n'].includes(t)) return false;
  throw bad(name, `expected true or false, got ${JSON.stringify(v)}`);
}

/** A path id: a positive integer. */
export function parseId(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text) || Number(text) < 1) throw bad(what, `expected a positive integer id, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** upstream's `name:value;name:value` (string equality). */
export function parseColonTraits(query: Query, name: string): TraitFilter[] {
  const out: TraitFilter[] = [];
  for (const text of all(query, name)) {
    for (const item of text.split(';')) {
      if (item.trim() === '') continue;
      const colon = item.indexOf(':');
      if (colon <= 0) throw bad(name, `expected name:value pairs separated by ';', got ${JSON.stringify(item)}`);
      const traitName = item.slice(0, colon).trim();
      if (traitName === '') throw bad(name, `empty trait name in ${JSON.stringify(item)}`);
      out.push({ name: traitName, op: 'eq', type: 'string', value: item.slice(colon + 1).trim() });
    }
  }
  return out;
}

/** More trait conditions than this are refused (each is a join; MariaDB stops at 61 tables). */
export const MAX_TRAIT_CONDITIONS = 20;

/**
 * Every trait condition of a request: upstream's `colonName=name:value;…` and Panko's q.*,
 * AND-ed. Throws a 400 naming the parameter when there are more than MAX_TRAIT_CONDITIONS.
 */
export function parseTraitFilters(query: Query, colonName: string): TraitFilter[] {
  const colon = parseColonTraits(query, colonName);
  const typed = parseTypedTraits(query);
  if (colon.length + typed.length > MAX_TRAIT_CONDITIONS) {
    throw bad(typed.length > colon.length ? 'q.field' : colonName, `at most ${MAX_TRAIT_CONDITIONS} trait conditions, got ${colon.length + typed.length}`);
  }
  return [...colon, ...typed];
}

const TYPE_NAMES: Readonly<Record<string, TraitFilter['type']>> = { string: 'string', integer: 'int', int: 'int', float: 'float', datetime: 'datetime' };

/** Panko's q.field / q.op / q.type / q.value. */
export function parseTypedTraits(query: Query): TraitFilter[] {
  const fields = all(query, 'q.field');
  const values = all(query, 'q.value');
  const ops = all(query, 'q.op');
  const types = all(query, 'q.type');
  if (fields.length === 0 && values.length === 0 && ops.length === 0 && types.length === 0) return [];
  if (values.length !== fields.length) throw bad('q.value', `give one q.value per q.field (${fields.length} q.field, ${values.length} q.value)`);
  if (ops.length !== 0 && ops.length !== fields.length) throw bad('q.op', `give q.op for every q.field or for none (${fields.length} q.field, ${ops.length} q.op)`);
  if (types.length !== 0 && types.length !== fields.length) throw bad('q.type', `give q.type for every q.field or for none (${fields.length} q.field, ${types.length} q.type)`);
  return fields.map((field, i) => {
    if (field.trim() === '') throw bad('q.field', 'empty trait name');
    const opText = (ops[i] ?? 'eq').trim().toLowerCase();
    if (!(FILTER_OPS as readonly string[]).includes(opText)) throw bad('q.op', `unknown operator ${JSON.stringify(ops[i])}; one of ${FILTER_OPS.join(', ')}`);
    const op = opText as FilterOp;
    const type = TYPE_NAMES[(types[i] ?? 'string').trim().toLowerCase()];
    if (!type) throw bad('q.type', `unknown type ${JSON.stringify(types[i])}; one of string, integer, float, datetime`);
    const raw = values[i]!;
    const name = field.trim();
    switch (type) {
      case 'string':
        return { name, op, type, value: raw };
      case 'int':
        if (!/^[+-]?\d{1,30}$/.test(raw.trim())) throw bad('q.value', `${name}: expected an integer, got ${JSON.stringify(raw)}`);
        return { name, op, type, value: BigInt(raw.trim()) };
      case 'float': {
        const n = Number(raw.trim());
        if (raw.trim() === '' || !Number.isFinite(n)) throw bad('q.value', `${name}: expected a finite number, got ${JSON.stringify(raw)}`);
        return { name, op, type, value: n };
      }
      case 'datetime':
        return { name, op, type, value: parseDateTime(raw, 'q.value') };
    }
  });
}
