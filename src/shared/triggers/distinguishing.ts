/**
 * Distinguishing traits (spec §4.3): the values that pick which stream of a trigger an event
 * joins, and the canonical key the database indexes so that one trigger can never have two
 * active streams for the same values (fix for §10 item 3).
 *
 * A `distinguished_by` item is a trait name, or `{name: timex}`. For the latter the value is the
 * timex result with only `$timestamp` bound to the source trait (so `timestamp: day` gives the
 * UTC day around the event): a range is kept as {begin, end}, a single Timestamp as a datetime.
 *
 * The key must be injective and keep types, because upstream's stream lookup compared typed
 * columns: int 1, float 1.0 and text "1" are three different streams; datetimes and ranges count
 * to the microsecond. It is JSON of `[name, type, value…]` tuples sorted by name (so reordering
 * `distinguished_by` in the config does not orphan active streams), with types named like the
 * trait datatypes: none, text, int, float, datetime, timerange. Floats use JS's shortest exact
 * round-trip form, with -0 written as 0 since the database compared 0.0 = -0.0 equal.
 */
import { traitTypeOf, type TraitValue } from '../event.js';
import { DateTime } from '../time.js';
import type { TimexExpression } from '../timex/index.js';

export interface TimeRangeValue {
  readonly begin: DateTime;
  readonly end: DateTime;
}

export type DistinguishingRawValue = TraitValue | TimeRangeValue | null;

export interface DistinguishingValue {
  readonly name: string;
  readonly value: DistinguishingRawValue;
}

export function isTimeRangeValue(value: DistinguishingRawValue): value is TimeRangeValue {
  return value !== null && typeof value === 'object' && !(value instanceof DateTime);
}

export class DistinguishedBy {
  readonly name: string;
  /** For `{name: expr}` items; sees only `$timestamp` (checked at load). */
  readonly expression: TimexExpression | null;

  constructor(name: string, expression: TimexExpression | null) {
    this.name = name;
    this.expression = expression;
  }

  /** The distinguishing value given the (mapped) source trait's value. */
  valueFrom(source: TraitValue | null): DistinguishingRawValue {
    if (this.expression === null) return source;
    if (!(source instanceof DateTime)) {
      throw new TypeError(`distinguished_by "${this.name}" needs a datetime, got ${source === null ? 'null' : traitTypeOf(source)}`);
    }
    const result = this.expression.evaluate({ timestamp: source });
    return result.kind === 'timestamp' ? result.timestamp : { begin: result.begin, end: result.end };
  }
}

type EncodedValue =
  | [name: string, type: 'none']
  | [name: string, type: 'text' | 'int' | 'float' | 'datetime', value: string]
  | [name: string, type: 'timerange', begin: string, end: string];

function encodeValue(name: string, value: DistinguishingRawValue): EncodedValue {
  if (value === null) return [name, 'none'];
  if (isTimeRangeValue(value)) return [name, 'timerange', value.begin.toSql(), value.end.toSql()];
  if (typeof value === 'string') return [name, 'text', value];
  if (typeof value === 'bigint') return [name, 'int', value.toString()];
  if (typeof value === 'number') return [name, 'float', Object.is(value, -0) ? '0' : String(value)];
  return [name, 'datetime', value.toSql()];
}

/** The canonical, injective, typed key of a stream's distinguishing values. */
export function distinguishingKey(values: readonly DistinguishingValue[]): string {
  const sorted = [...values].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return JSON.stringify(sorted.map((v) => encodeValue(v.name, v.value)));
}

/** The inverse of distinguishingKey (values come back sorted by name). Throws on a malformed key. */
export function decodeDistinguishingKey(key: string): DistinguishingValue[] {
  const parsed: unknown = JSON.parse(key);
  if (!Array.isArray(parsed)) throw new SyntaxError(`distinguishing key is not a list: ${key}`);
  return parsed.map((item: unknown) => {
    if (Array.isArray(item) && item.every((part) => typeof part === 'string')) {
      const [name, type, ...payload] = item as string[];
      const value = decodeValue(type, payload);
      if (name !== undefined && value !== undefined) return { name, value };
    }
    throw new SyntaxError(`bad distinguishing key entry ${JSON.stringify(item)}`);
  });
}

/** undefined when the type or the payload's shape is wrong. */
function decodeValue(type: string | undefined, payload: readonly string[]): DistinguishingRawValue | undefined {
  const [first, second] = payload;
  if (payload.length === 0) return type === 'none' ? null : undefined;
  if (payload.length === 2) return type === 'timerange' ? { begin: DateTime.parse(first!), end: DateTime.parse(second!) } : undefined;
  if (payload.length > 2) return undefined;
  switch (type) {
    case 'text':
      return first;
    case 'int':
      return BigInt(first!);
    case 'float':
      return Number(first);
    case 'datetime':
      return DateTime.parse(first!);
    default:
      return undefined;
  }
}
