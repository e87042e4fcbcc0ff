/**
 * JSON as Python's `json.loads` reads it (spec §2.5, invariant 9, Appendix B): integers of any
 * size stay exact, `1.0` stays a float, and the non-standard tokens `NaN`, `Infinity` and
 * `-Infinity` are accepted. Upstream yagi parsed every body this way.
 *
 * How values come out (what the distiller's conversions read, see python.ts):
 *   integer literal → number when |n| ≤ 2^53−1, else bigint (never a rounded number);
 *                     `-0` is the int 0
 *   float literal   → number, except a float whose value is a safe integer (`1.0`, `2e3`),
 *                     which is a PyFloat so that str() can print `1.0`; `-0.0` is the number -0
 *   NaN/±Infinity   → the numbers NaN/±Infinity
 * So a JS number means a Python int exactly when it is a safe integer other than -0.
 *
 * Two parsers:
 *  - loads(): exact, always. It finds every number and NaN/Infinity token outside strings with
 *    one regular expression, swaps each for a placeholder index, lets JSON.parse check and build
 *    the rest (strings, escapes, nesting, errors) and puts the exact values back.
 *  - loadsFast(): plain JSON.parse, which is all a typical body needs and about 3× faster, with
 *    loads() only when JSON.parse rejects the text (NaN/Infinity, or a real error). Its numbers
 *    can be ambiguous in two ways only: an integral number may have been written `1` or `1.0`
 *    (or `-0`/`-0.0`), and one beyond 2^53 may have been rounded. The text is remembered
 *    (on the result, see SOURCE), and the distiller runs under guardAmbiguity(): code where
 *    the written form matters (str() of an integral number, int() of one beyond 2^53, …) calls
 *    requireExact(). That scans the text once for number tokens that can be ambiguous (most
 *    bodies have none: their numbers are exactly what JSON.parse made) and, if there is one,
 *    makes the distiller start again on loads() of the same text. Nothing is ever decided on an
 *    ambiguous value; the scan and the slow parse happen only for bodies whose traits need them.
 */

const FLOAT_VALUE: unique symbol = Symbol('PyFloat value');

/**
 * A Python float whose value is a safe integer (`1.0`): a plain number would read as an int.
 * The value is kept under a symbol so that the object has no string keys: JSONPath steps find
 * nothing inside it (as inside a float) without having to test for the class.
 */
export class PyFloat {
  readonly [FLOAT_VALUE]: number;

  constructor(value: number) {
    this[FLOAT_VALUE] = value;
  }

  get value(): number {
    return this[FLOAT_VALUE];
  }
}

/** Python's `sys.get_int_max_str_digits()` default (3.11+): longer integer literals are refused. */
const MAX_INT_DIGITS = 4300;

// A JSON string (skipped), or a number / NaN / Infinity token. Anything else is left to JSON.parse.
const TOKENS = /"[^"\\]*(?:\\[^][^"\\]*)*"|-?(?:Infinity|(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|NaN/g;
// NaN/Infinity tokens outside strings, to locate a syntax error elsewhere with JSON.parse.
const WORDS = /"[^"\\]*(?:\\[^][^"\\]*)*"|-?Infinity|NaN/g;
const SAME_LENGTH_NUMBER: Readonly<Record<string, string>> = { NaN: '0.0', Infinity: '1.000000', '-Infinity': '-1.000000' };

/**
 * Parses `text` exactly as described above. Throws SyntaxError (message with the position)
 * for anything Python's json.loads would refuse, and for integers longer than 4300 digits.
 */
export function loads(text: string): unknown {
  const numbers: unknown[] = [];
  let rewritten = '';
  let copied = 0;
  TOKENS.lastIndex = 0;
  for (let m = TOKENS.exec(text); m !== null; m = TOKENS.exec(text)) {
    const token = m[0];
    if (token.charCodeAt(0) === 0x22) continue;
    // Spaces keep a swapped token from merging with a neighbour: `01` must stay an error.
    rewritten += `${text.slice(copied, m.index)} ${numbers.length} `;
    copied = m.index + token.length;
    numbers.push(numberValue(token, m.index));
  }
  if (numbers.length === 0) return JSON.parse(text);
  let tree: unknown;
  try {
    tree = JSON.parse(rewritten + text.slice(copied));
  } catch {
    // Report the error against the original text, where JSON.parse's positions are right:
    // NaN/Infinity become numbers of the same length so that the real error is the one found.
    JSON.parse(text.replace(WORDS, (t) => SAME_LENGTH_NUMBER[t] ?? t));
    throw new SyntaxError('a NaN or Infinity token is misplaced');
  }
  return restore(tree, numbers);
}

function numberValue(token: string, at: number): unknown {
  switch (token) {
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
  }
  if (!/[.eE]/.test(token)) {
    const digits = token.length - (token.charCodeAt(0) === 0x2d ? 1 : 0);
    if (digits <= 15) return Number(token) + 0; // below 2^53, so exact; `+ 0` turns -0 into 0
    if (digits > MAX_INT_DIGITS) {
      throw new SyntaxError(`integer of ${digits} digits at position ${at} exceeds Python's limit of ${MAX_INT_DIGITS} digits`);
    }
    const big = BigInt(token);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  const x = Number(token);
  return Number.isSafeInteger(x) && !Object.is(x, -0) ? new PyFloat(x) : x;
}

/** Puts the exact values back in place of the placeholder indexes (every number in `tree` is one). */
function restore(tree: unknown, numbers: readonly unknown[]): unknown {
  if (typeof tree === 'number') return numbers[tree];
  if (typeof tree !== 'object' || tree === null) return tree;
  if (Array.isArray(tree)) {
    for (let i = 0; i < tree.length; i++) tree[i] = restore(tree[i], numbers);
    return tree;
  }
  const object = tree as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (typeof value !== 'number' && (typeof value !== 'object' || value === null)) continue;
    const exact = restore(value, numbers);
    // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype.
    if (key === '__proto__') Object.defineProperty(object, key, { value: exact, writable: true, enumerable: true, configurable: true });
    else object[key] = exact;
  }
  return object;
}

/**
 * Where loadsFast() keeps the text of what it parsed: a non-enumerable symbol property, which
 * Object.keys, spreads and JSON.stringify ignore (a modified copy is never re-parsed from the
 * original). A WeakMap would cost ~7% of decoding (its entries slow down garbage collection).
 */
const SOURCE = Symbol('python-json source text');

function sourceOf(value: object): string | undefined {
  return (value as { [SOURCE]?: string })[SOURCE];
}

/**
 * JSON.parse when it accepts `text` (the result's numbers may be ambiguous, see above), else
 * loads(). With `remember` (the default) the text is kept on the result for guardAmbiguity();
 * without, call rememberText() later if the result is the one to be distilled. Throws SyntaxError
 * like loads().
 */
export function loadsFast(text: string, remember = true): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return loads(text);
  }
  return remember ? rememberText(value, text) : value;
}

/** Keeps `text` on `value` (an object parsed from it) for guardAmbiguity(); returns `value`. */
export function rememberText<T>(value: T, text: string): T {
  if (typeof value === 'object' && value !== null) Object.defineProperty(value, SOURCE, { value: text });
  return value;
}

/** Signals that the value being distilled needs loads(); caught by guardAmbiguity(). */
class NeedsExactParse extends Error {}
const NEEDS_EXACT = new NeedsExactParse('a number needs the exact parse');

let guarding = false;
/** The text of the loadsFast() result being distilled, until its numbers are known to be exact. */
let unverifiedText: string | null = null;

// Number tokens JSON.parse may have made ambiguous: with a fraction or exponent, 16+ digits, or
// `-0`. A token is preceded by `:`, `,` or `[` and followed by `,`, `}` or `]` (whitespace
// allowed), which keeps most of what is inside strings (times like "10:00:00.5") out; what
// still matches inside a string costs a needless exact parse, never a wrong value.
const RISKY_NUMBER = /[:,[][ \t\n\r]*(-?[0-9]+[.eE][-+.eE0-9]*|-?[0-9]{16,}|-0)(?=[ \t\n\r]*[,}\]])/g;

/**
 * True when JSON.parse of `text` may hold a number that is not what it looks like: a
 * whole-valued float (`1.0`, `2e3`; `-0.0` is fine, -0 reads as a float), an integer beyond 2^53
 * (rounded), or the integer `-0`. Exact for texts without such tokens inside strings.
 */
export function hasAmbiguousNumbers(text: string): boolean {
  RISKY_NUMBER.lastIndex = 0;
  for (let m = RISKY_NUMBER.exec(text); m !== null; m = RISKY_NUMBER.exec(text)) {
    const token = m[1]!;
    if (token === '-0') return true;
    const x = Number(token);
    if (/[.eE]/.test(token) ? Number.isSafeInteger(x) && !Object.is(x, -0) : !Number.isSafeInteger(x)) return true;
  }
  return false;
}

/** True for the internal signal: code that catches errors must let it through. */
export function isExactParseSignal(err: unknown): boolean {
  return err === NEEDS_EXACT;
}

/**
 * Called where a number's written form matters (str() of a whole number, int() beyond 2^53,
 * float() of -0, `==` beyond 2^53). Inside guardAmbiguity() on a loadsFast() result whose text
 * has ambiguous number tokens, it abandons the run so that it starts again on the exact values.
 * Anywhere else the numbers already are what they look like and it does nothing.
 */
export function requireExact(): void {
  if (unverifiedText === null) return;
  if (hasAmbiguousNumbers(unverifiedText)) throw NEEDS_EXACT;
  unverifiedText = null; // every number of this body is exact: do not scan again
}

/**
 * Runs `work(root)`; if `root` came from loadsFast() and the work meets a number whose
 * written form matters and may differ (requireExact()), runs it again on loads() of the same
 * text. Throws what `work` throws, or SyntaxError if the exact parse refuses the text (an
 * integer longer than 4300 digits). Not re-entrant: a nested call runs unguarded. `work` must be
 * synchronous and may be run twice.
 */
export function guardAmbiguity<T>(root: object, work: (root: object) => T): T {
  const text = sourceOf(root);
  if (text === undefined || guarding) return work(root);
  guarding = true;
  unverifiedText = text;
  try {
    return work(root);
  } catch (err) {
    if (err !== NEEDS_EXACT) throw err;
  } finally {
    guarding = false;
    unverifiedText = null;
  }
  return work(loads(text) as object);
}
