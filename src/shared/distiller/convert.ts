/**
 * Trait type conversions (spec §3.3 step 4): a matched JSON value → the stored TraitValue.
 *
 * Upstream applied Python 2's str()/int()/float()/iso8601 and let any exception fail the whole
 * notification. We keep that contract (a ConversionError here becomes a PoisonMessageError in
 * the distiller) with these deliberate differences, as the spec asks:
 *  - text: strings are kept as they are (Python 2 raised UnicodeEncodeError on non-ASCII) and
 *    are never truncated; other values render as Python 3 str() (see python.ts).
 *  - int: Python 2 int() literals only (ASCII digits, optional sign, surrounding whitespace):
 *    Python 3's underscores and non-ASCII digits are rejected. The result is an exact bigint.
 *    Beyond the signed 64-bit BIGINT range (storage, invariant 9) the trait becomes a *text*
 *    trait holding the exact decimal digits (Python's str() of the int), so nothing is lost and
 *    an int trait never leaves BIGINT. Values that are no integer at all (NaN, ±infinity, "abc")
 *    fail the notification as upstream's int() did.
 *  - float: Python 2 float() literals, also without Python 3's underscores.
 *  - datetime: only strings, parsed by iso8601.ts.
 */
import { DateTime } from '../time.js';
import type { TraitTypeName, TraitValue } from '../event.js';
import { parseIso8601 } from './iso8601.js';
import { PyFloat, requireExact } from './python-json.js';
import { pyRepr, pyStr, pyStrip } from './python.js';

/** Why a value cannot be converted; the distiller adds which trait and notification. */
export class ConversionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ConversionError';
  }
}

export type Converter = (value: unknown) => TraitValue;

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;
const INT_LITERAL = /^[+-]?[0-9]+$/;
const FLOAT_LITERAL = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$/i;

export function toText(value: unknown): string {
  return pyStr(value);
}

/** An int trait: a bigint within BIGINT, else the integer's exact digits as text (see above). */
export function toInt(value: unknown): bigint | string {
  const result = pythonInt(value);
  return result < BIGINT_MIN || result > BIGINT_MAX ? result.toString() : result;
}

/** Python `int(value)` of a JSON value, exact. */
export function pythonInt(value: unknown): bigint {
  if (value instanceof PyFloat) return BigInt(value.value);
  switch (typeof value) {
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1n : 0n;
    case 'number':
      if (!Number.isFinite(value)) throw new ConversionError(`cannot convert float ${pyRepr(value)} to an integer`);
      if (!Number.isSafeInteger(Math.trunc(value))) requireExact(); // maybe a rounded big int literal
      return BigInt(Math.trunc(value));
    case 'string': {
      const literal = pyStrip(value);
      if (!INT_LITERAL.test(literal)) throw new ConversionError(`${describe(value)} is not a base-10 integer literal`);
      return BigInt(literal);
    }
    default:
      throw new ConversionError(`${describe(value)} is not a string or a number`);
  }
}

export function toFloat(value: unknown): number {
  if (value instanceof PyFloat) return value.value;
  switch (typeof value) {
    case 'number':
      if (Object.is(value, -0)) requireExact(); // the int `-0` is 0.0, the float `-0.0` stays -0.0
      return value;
    case 'boolean':
      return value ? 1 : 0;
    case 'bigint': {
      const result = Number(value);
      if (!Number.isFinite(result)) throw new ConversionError(`integer ${value} is too large for a float`);
      return result;
    }
    case 'string': {
      const literal = pyStrip(value);
      if (!FLOAT_LITERAL.test(literal)) throw new ConversionError(`${describe(value)} is not a float literal`);
      const word = literal.replace(/^[+-]/, '').toLowerCase();
      if (word === 'nan') return NaN;
      if (word.startsWith('inf')) return literal.startsWith('-') ? -Infinity : Infinity;
      return Number(literal);
    }
    default:
      throw new ConversionError(`${describe(value)} is not a string or a number`);
  }
}

export function toDateTime(value: unknown): DateTime {
  if (typeof value !== 'string') throw new ConversionError(`${describe(value)} is not a date string`);
  try {
    return parseIso8601(value);
  } catch (err) {
    if (err instanceof RangeError) throw new ConversionError(err.message);
    throw err;
  }
}

export const CONVERTERS: Readonly<Record<TraitTypeName, Converter>> = {
  text: toText,
  int: toInt,
  float: toFloat,
  datetime: toDateTime,
};

const MAX_DESCRIBED = 120;

/** A short, unambiguous rendering of a bad value for error messages. */
export function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : pyRepr(value);
  return text.length > MAX_DESCRIBED ? `${text.slice(0, MAX_DESCRIBED)}… (${text.length} chars)` : text;
}
