/**
 * One `traits:` entry of a criteria block (spec §4.2): a test on one event trait.
 *
 * Three kinds, compiled at load so matching does no parsing:
 *   - equality: a scalar, `{string: v}` or `{text: v}`. Python `==`: 1 == 1.0 across int and
 *     float, a string never equals a number, a datetime never equals a constant, and a null
 *     constant equals a null-valued key (pipeline-generated events).
 *   - numeric: `{int|float: "<op> <n>"}`. Upstream only implemented `=`, `>` and `<` and
 *     silently never matched `>=`, `<=`, `!=`; we implement all six. A trait value that is not
 *     a number never matches (upstream used Python 2 mixed-type ordering: "512" > 256 was true).
 *   - datetime: `{datetime: timex}`; the trait must be `in` the result.
 * A missing trait never matches. Failure reasons are upstream's strings (for the three new
 * operators, the same pattern: ">= failed", "<= failed", "!= failed"), built once here.
 */
import { eventValue, type Event } from '../event.js';
import { DateTime } from '../time.js';
import type { DebugGroup } from './debugger.js';
import type { EventTimex } from './event-timex.js';

export type Numeric = bigint | number;
/** What an equality criterion compares with (YAML scalars; booleans and dates are rejected at load). */
export type EqualityOperand = string | Numeric | null;

export interface TraitCriterion {
  readonly trait: string;
  match(event: Event, group: DebugGroup): boolean;
}

function isNumeric(value: unknown): value is Numeric {
  return typeof value === 'bigint' || typeof value === 'number';
}

/** Sign of a − b, exact across bigint and number; NaN when either is NaN (every test fails but `!=`). */
function compareNumeric(a: Numeric, b: Numeric): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return a == b ? 0 : NaN;
}

/** Python `==` between a trait value and a YAML constant. */
export function pythonEquals(value: unknown, operand: EqualityOperand): boolean {
  if (typeof operand === 'string' || operand === null) return value === operand;
  return isNumeric(value) && compareNumeric(value, operand) === 0;
}

export class EqualityCriterion implements TraitCriterion {
  readonly trait: string;
  readonly operand: EqualityOperand;
  private readonly missing: string;

  constructor(trait: string, operand: EqualityOperand) {
    this.trait = trait;
    this.operand = operand;
    this.missing = `not ${trait}`;
  }

  match(event: Event, group: DebugGroup): boolean {
    const value = eventValue(event, this.trait);
    if (value === undefined) return group.fail(this.missing);
    return group.check(pythonEquals(value, this.operand), '== failed');
  }
}

export const NUMERIC_OPERATORS = ['=', '>', '<', '>=', '<=', '!='] as const;
export type NumericOperator = (typeof NUMERIC_OPERATORS)[number];

const OPERATOR_TESTS: Readonly<Record<NumericOperator, (sign: number) => boolean>> = {
  '=': (s) => s === 0,
  '>': (s) => s > 0,
  '<': (s) => s < 0,
  '>=': (s) => s >= 0,
  '<=': (s) => s <= 0,
  '!=': (s) => s !== 0,
};

export class NumericCriterion implements TraitCriterion {
  readonly trait: string;
  readonly operator: NumericOperator;
  readonly operand: Numeric;
  private readonly test: (sign: number) => boolean;
  private readonly missing: string;
  private readonly failed: string;

  constructor(trait: string, operator: NumericOperator, operand: Numeric) {
    this.trait = trait;
    this.operator = operator;
    this.operand = operand;
    this.test = OPERATOR_TESTS[operator];
    this.missing = `not ${trait}`;
    this.failed = `${operator === '=' ? '==' : operator} failed`;
  }

  match(event: Event, group: DebugGroup): boolean {
    const value = eventValue(event, this.trait);
    if (value === undefined) return group.fail(this.missing);
    return group.check(isNumeric(value) && this.test(compareNumeric(value, this.operand)), this.failed);
  }
}

export class DatetimeCriterion implements TraitCriterion {
  readonly trait: string;
  readonly timex: EventTimex;
  private readonly missing: string;

  constructor(trait: string, timex: EventTimex) {
    this.trait = trait;
    this.timex = timex;
    this.missing = `Time: not '${trait}'`;
  }

  match(event: Event, group: DebugGroup): boolean {
    const value = eventValue(event, this.trait);
    if (value === undefined) return group.fail(this.missing);
    const range = this.timex.evaluate(event);
    if (range === null) return group.fail('Time: no referenced trait');
    return group.check(value instanceof DateTime && range.contains(value), 'Not in timerange');
  }
}
