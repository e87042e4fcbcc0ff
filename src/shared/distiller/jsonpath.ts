/**
 * Compiles a parsed JSONPath (jsonpath-parser.ts) into closures once, at definition load time,
 * so distilling a notification walks the body without parsing or building match objects.
 *
 * Each AST node becomes a step `(value, path) => stop?` that feeds its matches to the next step,
 * chained at compile time (continuation passing). A match whose value is null is dropped
 * (spec §3.3 step 1). Three evaluators per path:
 *  - first(): the first non-null match, stopping as soon as it is found (text traits without plugin);
 *  - firstNonEmpty(): the first match that is neither null nor "" (other traits without plugin:
 *    "" cannot convert to an int, float or datetime, so the next alternative of a union is
 *    tried — a departure from upstream, which took the "" and then omitted the trait; it is
 *    what makes the sandbox's `deleted_at | terminated_at` work on Havana's delete.end);
 *  - all(): every non-null match with its path string, for plugins (§3.3 step 2).
 *
 * Path strings are jsonpath-rw's: segments joined with `.`, quoted keys without quotes, array
 * positions as their own `[n]` segment, nothing for `$`. Only all() builds them.
 *
 * Matching semantics of jsonpath-rw 1.4:
 *  - a name or `*` applies to objects only (on an array or a scalar it matches nothing);
 *  - `[n]` applies to arrays; negative n counts from the end;
 *  - `[*]` yields an array's elements; any other non-null value is treated as a one-element
 *    list of itself (so `payload.host[*]` finds the host string, path `payload.host.[0]`);
 *  - `a..b` finds b on each match of a and then on all its descendants, depth first;
 *  - `a|b` yields a's matches, then b's.
 * jsonpath-rw-ext (Ceilometer's dialect), see jsonpath-parser.ts:
 *  - `[?expr & …]` applies to arrays: the elements for which every expression holds, with their
 *    `[i]` path segment. `target` alone holds when it finds anything in the element (null
 *    included); `target op value` holds when one of its values compares true: against an int
 *    literal after Python int() (values int() refuses are skipped), else as Python compares
 *    (`==`/`!=` any values, ordering only number with number or string with string);
 *  - `` `split(c, n, m)` `` applies to strings: segment n of str.split(c, m), nothing when there
 *    is no such segment. The match keeps the path of the string it split (upstream's was "this").
 * Where upstream behaved by accident we take the plain reading: `[n]` on anything but an array
 * matches nothing (upstream indexed into strings and raised on objects and numbers), `[*]` wraps
 * a float like an int (upstream raised), a filter on anything but an array matches nothing.
 * JS visits integer-like object keys first where Python kept insertion order, which only `*` and
 * `..` can observe.
 */
import { ConversionError, pythonInt } from './convert.js';
import type { FilterExpression, FilterValue, PathNode } from './jsonpath-parser.js';
import { numeric, pyEquals, pySplit } from './python.js';

/** One match handed to a plugin: its path string and its (non-null) value. */
export type TraitMatch = readonly [path: string, value: unknown];

export interface CompiledPath {
  /** The first non-null match, or undefined when there is none. */
  first(body: unknown): unknown;
  /** The first match that is neither null nor "", or undefined when there is none. */
  firstNonEmpty(body: unknown): unknown;
  /** Every non-null match in jsonpath-rw order, with its path string. */
  all(body: unknown): TraitMatch[];
}

/** Compiles parsed paths; several (a `fields` list) form a union where earlier paths match first. */
export function compilePaths(nodes: readonly [PathNode, ...PathNode[]]): CompiledPath {
  return compileNode(nodes.reduce((left, right) => ({ kind: 'union', left, right })));
}

/** A path as a linked list from the leaf up: a key, or an array position. */
interface PathLink {
  readonly up: PathLink | null;
  readonly segment: string | number;
}

type Step = (value: unknown, path: PathLink | null) => boolean;

/** Per-evaluation state shared by a compiled path's closures (evaluation is synchronous). */
interface EvalState {
  root: unknown;
  first: unknown;
  matches: TraitMatch[];
}

function compileNode(node: PathNode): CompiledPath {
  const state: EvalState = { root: undefined, first: undefined, matches: [] };
  const noLink = (): null => null;
  const link = (up: PathLink | null, segment: string | number): PathLink => ({ up, segment });

  const firstStep = build(node, state, noLink, (value) => {
    if (value === null || value === undefined) return false;
    state.first = value;
    return true;
  });
  const firstNonEmptyStep = build(node, state, noLink, (value) => {
    if (value === null || value === undefined || value === '') return false;
    state.first = value;
    return true;
  });
  const allStep = build(node, state, link, (value, path) => {
    if (value !== null && value !== undefined) state.matches.push([pathString(path), value]);
    return false;
  });

  const firstOf = (step: Step, body: unknown): unknown => {
    state.root = body;
    step(body, null);
    const found = state.first;
    state.first = state.root = undefined;
    return found;
  };
  return {
    first: (body) => firstOf(firstStep, body),
    firstNonEmpty: (body) => firstOf(firstNonEmptyStep, body),
    all(body) {
      state.root = body;
      state.matches = [];
      allStep(body, null);
      const found = state.matches;
      state.matches = [];
      state.root = undefined;
      return found;
    },
  };
}

type Extend = (up: PathLink | null, segment: string | number) => PathLink | null;

function build(node: PathNode, state: EvalState, extend: Extend, next: Step): Step {
  switch (node.kind) {
    case 'root':
      return () => next(state.root, null);
    case 'this':
      return next;
    case 'split': {
      const { separator, segment, maxSplit } = node;
      return (value, path) => {
        if (typeof value !== 'string') return false;
        const part = pySplit(value, separator, maxSplit)[segment];
        return part !== undefined && next(part, path);
      };
    }
    case 'filter': {
      const holds = node.expressions.map(compileFilterExpression);
      return (value, path) => {
        if (!Array.isArray(value)) return false;
        for (let i = 0; i < value.length; i++) {
          const element: unknown = value[i];
          if (holds.every((h) => h(element)) && next(element, extend(path, i))) return true;
        }
        return false;
      };
    }
    case 'fields':
      return node.names.length === 1 ? field(node.names[0]!, extend, next) : fields(node.names, extend, next);
    case 'wildcard':
      return (value, path) => isObject(value) && eachEntry(value, path, extend, next);
    case 'index': {
      const index = node.index;
      return (value, path) => {
        if (!Array.isArray(value)) return false;
        const at = index < 0 ? value.length + index : index;
        return at >= 0 && at < value.length && next(value[at], extend(path, index));
      };
    }
    case 'every':
      return (value, path) => {
        if (Array.isArray(value)) return eachElement(value, path, extend, next);
        return value !== null && value !== undefined && next(value, extend(path, 0));
      };
    case 'child':
      return build(node.left, state, extend, build(node.right, state, extend, next));
    case 'union': {
      const left = build(node.left, state, extend, next);
      const right = build(node.right, state, extend, next);
      return (value, path) => left(value, path) || right(value, path);
    }
    case 'descendants': {
      const right = build(node.right, state, extend, next);
      const descend: Step = (value, path) => {
        if (right(value, path)) return true;
        if (Array.isArray(value)) return eachElement(value, path, extend, descend);
        return isObject(value) && eachEntry(value, path, extend, descend);
      };
      return build(node.left, state, extend, descend);
    }
  }
}

function field(name: string, extend: Extend, next: Step): Step {
  return (value, path) => isObject(value) && Object.hasOwn(value, name) && next(value[name], extend(path, name));
}

function fields(names: readonly string[], extend: Extend, next: Step): Step {
  return (value, path) => {
    if (!isObject(value)) return false;
    for (const name of names) {
      if (Object.hasOwn(value, name) && next(value[name], extend(path, name))) return true;
    }
    return false;
  };
}

function eachEntry(value: Record<string, unknown>, path: PathLink | null, extend: Extend, next: Step): boolean {
  for (const key of Object.keys(value)) {
    if (next(value[key], extend(path, key))) return true;
  }
  return false;
}

function eachElement(value: readonly unknown[], path: PathLink | null, extend: Extend, next: Step): boolean {
  for (let i = 0; i < value.length; i++) {
    if (next(value[i], extend(path, i))) return true;
  }
  return false;
}

/** A JSON object. (A PyFloat passes, but has no string keys: fields and `*` find nothing in it.) */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One `[?…]` expression as a predicate on an array element. */
function compileFilterExpression(expression: FilterExpression): (element: unknown) => boolean {
  const state: EvalState = { root: undefined, first: undefined, matches: [] };
  const found: unknown[] = [];
  const find = build(expression.target, state, () => null, (value) => {
    found.push(value);
    return false;
  });
  const { op, value: literal } = expression;
  return (element) => {
    found.length = 0;
    state.root = element;
    find(element, null);
    state.root = undefined;
    if (op === null || literal === null) return found.length > 0;
    return found.some((value) => compare(value, op, literal));
  };
}

function compare(value: unknown, op: NonNullable<FilterExpression['op']>, literal: FilterValue): boolean {
  let left: unknown = value;
  if (literal.kind === 'int') {
    try {
      left = pythonInt(value);
    } catch (err) {
      if (err instanceof ConversionError) return false; // jsonpath-rw-ext skips what int() refuses
      throw err;
    }
  }
  if (op === '==') return pyEquals(left, literal.value);
  if (op === '!=') return !pyEquals(left, literal.value);
  const x = typeof left === 'string' ? left : numeric(left);
  const y = literal.value;
  // Python refuses to order a string against a number (or anything else): no match.
  if (x === undefined || (typeof x === 'string') !== (typeof y === 'string')) return false;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    case '>=':
      return x >= y;
  }
}

function pathString(path: PathLink | null): string {
  const segments: string[] = [];
  for (let link = path; link !== null; link = link.up) {
    segments.push(typeof link.segment === 'number' ? `[${link.segment}]` : link.segment);
  }
  return segments.reverse().join('.');
}
