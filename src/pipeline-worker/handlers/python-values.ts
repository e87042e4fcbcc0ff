/**
 * How upstream's Python 2.7 treats trait values, for handlers whose observable behaviour
 * (check outcomes, message texts) depends on it: truthiness, `==`, ordering and `str()`.
 *
 * `undefined` (absent key) and `null` (present, None) both behave as Python's None here.
 */
import type { TraitValue } from '../../shared/event.js';
import { DateTime } from '../../shared/time.js';

export type MaybeValue = TraitValue | null | undefined;

/** Python `bool(value)`: None, '' and 0 are false; every datetime is true. */
export function pyTruthy(value: MaybeValue): value is TraitValue {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value !== '';
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'number') return value !== 0;
  return true;
}

/** Python `a == b`: ints and floats compare by value; different kinds are never equal. */
export function pyEquals(a: MaybeValue, b: MaybeValue): boolean {
  const noneA = a === undefined || a === null;
  const noneB = b === undefined || b === null;
  if (noneA || noneB) return noneA && noneB;
  if (a instanceof DateTime || b instanceof DateTime) {
    return a instanceof DateTime && b instanceof DateTime && a.equals(b);
  }
  // Loose == compares a bigint with a number by value (2n == 2.0) and keeps NaN unequal.
  if (isNumeric(a) && isNumeric(b)) return a == b;
  return a === b;
}

/**
 * Python ordering (`<`, `<=`): datetimes with datetimes (exact to the µs), numbers with
 * numbers, strings with strings. Anything else raises TypeError, as comparing a datetime
 * with None or a string does in Python 2.
 */
export function pyCompare(a: MaybeValue, b: MaybeValue): number {
  if (a instanceof DateTime && b instanceof DateTime) return a.compare(b);
  if (isNumeric(a) && isNumeric(b)) return compareNumeric(a, b);
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TypeError(`can't compare ${pyTypeName(a)} to ${pyTypeName(b)}`);
}

/** Python 2.7 `str(value)`: None → 'None', datetimes without a zero fraction, floats to 12 digits. */
export function pyStr(value: MaybeValue): string {
  if (value === undefined || value === null) return 'None';
  if (typeof value === 'number') return pyFloatStr(value);
  return value.toString();
}

function isNumeric(value: MaybeValue): value is number | bigint {
  return typeof value === 'number' || typeof value === 'bigint';
}

function compareNumeric(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function pyTypeName(value: MaybeValue): string {
  if (value === undefined || value === null) return 'NoneType';
  if (value instanceof DateTime) return 'datetime.datetime';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'float';
  return 'str';
}

/**
 * Python 2.7 float.__str__: 12 significant digits, trailing zeros dropped, '.0' kept on
 * whole numbers; exponent form below 1e-4 and from 1e11 on (one decade earlier than '%.12g',
 * to leave room for the '.0').
 */
function pyFloatStr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Object.is(x, -0)) return '-0.0';
  const [mantissa = '', exponentText = '0'] = x.toExponential(11).split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 11) {
    const sign = exponent < 0 ? '-' : '+';
    return `${stripZeros(mantissa)}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const fixed = stripZeros(x.toFixed(11 - exponent));
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

function stripZeros(digits: string): string {
  return digits.includes('.') ? digits.replace(/\.?0+$/, '') : digits;
}
