/**
 * Python value semantics that leak into distilled events: str()/repr() text, str.strip(),
 * truthiness and `==`.
 *
 * A `text` trait whose value is not a string is stored as Python `str(value)` (spec §3.3 step 4,
 * golden README "Values"): `True`, `12`, `3.7`, `1.0`, `1e-07`, `-0.0`, `['a', 'b']`,
 * `{'k': 'v', 'n': 1}`. The split plugin applies the same str() before splitting. We render like
 * Python 3, as the golden files were produced, so stored text matches upstream wherever upstream
 * did not crash.
 *
 * Numbers are read as python-json.ts makes them: a number is an int when it is a safe integer
 * other than -0, else a float; bigint is an int; PyFloat is a float with a whole value. On a body
 * parsed by JSON.parse (loadsFast) a whole number may have been written `1.0`, so rendering one
 * calls requireExact() and the distiller starts again on the exact parse.
 * JS orders integer-like object keys first, so a dict's rendering can differ in order.
 *
 * Also here: Python's whitespace set (int()/float() strip it), truthiness (the envelope timestamp
 * rule) and equality (the bitfield plugin compares a match with a flag's YAML `value`).
 */
import { PyFloat, requireExact } from './python-json.js';

/** Python 3 `str(value)` of a JSON value (plus bigint, which plugins may return). */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Python 3 `repr(value)`: what str() of a list or dict shows for each element. */
export function pyRepr(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return stringRepr(value);
    case 'boolean':
      return value ? 'True' : 'False';
    case 'bigint':
      return value.toString();
    case 'number':
      if (Number.isInteger(value)) requireExact(); // `1` or `1.0`? `-0` or `-0.0`? rounded beyond 2^53?
      return Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : floatRepr(value);
    case 'undefined':
      return 'None';
    case 'object':
      if (value === null) return 'None';
      if (value instanceof PyFloat) return floatRepr(value.value);
      if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
      return `{${Object.entries(value)
        .map(([k, v]) => `${stringRepr(k)}: ${pyRepr(v)}`)
        .join(', ')}}`;
    default:
      return String(value);
  }
}

/** Python 3 `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without an argument gives the same shortest digits Python's repr uses.
  const [mantissa = '', exponentText = ''] = x.toExponential().split('e');
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const exponent = Number(exponentText);
  const pointAt = exponent + 1; // digits are 0.d1d2… × 10^pointAt
  if (pointAt > -4 && pointAt <= 16) {
    if (pointAt <= 0) return `${sign}0.${'0'.repeat(-pointAt)}${digits}`;
    if (pointAt >= digits.length) return `${sign}${digits}${'0'.repeat(pointAt - digits.length)}.0`;
    return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const expSign = exponent < 0 ? '-' : '+';
  return `${sign}${head}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

// Python's str.isprintable() is false for these categories (the space character excepted).
const NOT_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

function stringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code < 0x7f || ch === ' ' || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (code <= 0xff) out += `\\x${hex(code, 2)}`;
    else if (code <= 0xffff) out += `\\u${hex(code, 4)}`;
    else out += `\\U${hex(code, 8)}`;
  }
  return out + quote;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

// Python's str.isspace() set, which int() and float() strip (JS trim() differs: it strips
// U+FEFF but not U+001C–U+001F or U+0085).
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/** Python `str.split(separator, maxsplit)`; a negative or null maxsplit means no limit. */
export function pySplit(text: string, separator: string, maxSplit: number | null): string[] {
  if (maxSplit === null || maxSplit < 0) return text.split(separator);
  const parts: string[] = [];
  let start = 0;
  for (let found = text.indexOf(separator); found >= 0 && parts.length < maxSplit; found = text.indexOf(separator, start)) {
    parts.push(text.slice(start, found));
    start = found + separator.length;
  }
  parts.push(text.slice(start));
  return parts;
}

/** Python truthiness of a JSON value. */
export function pyTruthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (value instanceof PyFloat) return value.value !== 0;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  if (typeof value === 'number') return value !== 0; // NaN is truthy in Python
  return Boolean(value);
}

/** Python `a == b` between a JSON value and a YAML value: `1 == 1.0 == True`, deep for containers. */
export function pyEquals(a: unknown, b: unknown): boolean {
  const x = numeric(a);
  const y = numeric(b);
  if (x !== undefined || y !== undefined) return x !== undefined && y !== undefined && numbersEqual(x, y);
  if (a === null || a === undefined) return b === null || b === undefined;
  if (typeof a === 'string') return a === b;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => pyEquals(item, b[i]));
  if (!isDict(a) || !isDict(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]));
}

/** The number a JSON/YAML value stands for in Python arithmetic, or undefined if not numeric. */
export function numeric(value: unknown): number | bigint | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) requireExact(); // maybe a rounded big int
    return value;
  }
  if (typeof value === 'bigint') return value;
  return value instanceof PyFloat ? value.value : undefined;
}

function numbersEqual(x: number | bigint, y: number | bigint): boolean {
  if (typeof x === typeof y) return x === y;
  const [n, big] = typeof x === 'number' ? [x, y as bigint] : [y as number, x];
  return Number.isInteger(n) && BigInt(n) === big;
}

/** A plain JSON/YAML mapping (not an array, Date or other class instance). */
function isDict(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
