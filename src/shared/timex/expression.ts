/**
 * Evaluation (spec §6.3). A syntax tree is turned into closures once, when the expression is
 * parsed: callers parse at config load and evaluate per event, so evaluation walks no tree,
 * checks no node types and allocates only its results.
 *
 * The environment is the caller's variables plus `timestamp`, which defaults to `now` (and to
 * the wall clock when no `now` is given). A missing variable or an unknown range function is a
 * TimexExpressionError at evaluation time, as upstream.
 */
import { DateTime } from '../time.js';
import { TimexExpressionError } from './errors.js';
import type { RangeNode, SyntaxNode, TimestampNode } from './parser.js';
import { isRange } from './parser.js';
import { applyToRange, isRangeFunction, rangeAround } from './ranges.js';
import { TimeRange, Timestamp, type TimexValue } from './values.js';

export type TimexVariables = Readonly<Record<string, DateTime>>;

export interface TimexExpression {
  readonly source: string;
  /** Names of the $variables the expression references (plus 'timestamp' when a range function has no argument). */
  readonly variables: ReadonlySet<string>;
  /** vars must hold every referenced variable; `timestamp` defaults to the `now` argument when absent. Throws TimexExpressionError. */
  evaluate(vars: TimexVariables, now?: DateTime): TimexValue;
}

type Evaluator<T> = (vars: TimexVariables, now: DateTime | undefined) => T;

const TIMESTAMP = 'timestamp';

export class CompiledExpression implements TimexExpression {
  readonly source: string;
  readonly variables: ReadonlySet<string>;
  private readonly run: Evaluator<TimexValue>;

  constructor(source: string, node: SyntaxNode) {
    const variables = new Set<string>();
    if (isRange(node)) {
      this.run = compileRange(node, variables);
    } else {
      const timestamp = compileTimestamp(node, variables);
      this.run = (vars, now) => new Timestamp(timestamp(vars, now));
    }
    this.source = source;
    this.variables = variables;
  }

  evaluate(vars: TimexVariables, now?: DateTime): TimexValue {
    return this.run(vars, now);
  }

  toString(): string {
    return this.source;
  }
}

function compileTimestamp(node: TimestampNode, variables: Set<string>): Evaluator<DateTime> {
  switch (node.type) {
    case 'variable': {
      const { name } = node;
      variables.add(name);
      return (vars, now) => lookup(vars, now, name);
    }
    case 'timestampOp': {
      const left = compileTimestamp(node.left, variables);
      const { op, duration } = node;
      return (vars, now) => duration.applyTo(left(vars, now), op);
    }
  }
}

function compileRange(node: RangeNode, variables: Set<string>): Evaluator<TimeRange> {
  switch (node.type) {
    case 'to': {
      const begin = compileTimestamp(node.begin, variables);
      const end = compileTimestamp(node.end, variables);
      return (vars, now) => new TimeRange(begin(vars, now), end(vars, now));
    }
    case 'call': {
      const arg = compileTimestamp(node.arg ?? { type: 'variable', name: TIMESTAMP }, variables);
      const { name } = node;
      if (!isRangeFunction(name)) {
        return () => {
          throw new TimexExpressionError(`Unknown Function ${name}`);
        };
      }
      return (vars, now) => rangeAround(arg(vars, now), name);
    }
    case 'rangeOp': {
      const left = compileRange(node.left, variables);
      const { op, duration } = node;
      return (vars, now) => applyToRange(left(vars, now), op, duration);
    }
  }
}

function lookup(vars: TimexVariables, now: DateTime | undefined, name: string): DateTime {
  const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
  if (value !== undefined) return value;
  if (name === TIMESTAMP) return now ?? DateTime.now();
  throw new TimexExpressionError(`Variable ${name} not defined`);
}
