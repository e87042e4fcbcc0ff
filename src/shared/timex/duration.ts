/**
 * Durations: the `1d 2h` operands of `+`, `-` and `@` (spec §6.2, §6.3).
 *
 * A duration keeps each unit as written, merged per unit but never normalised (`25h` is not
 * `1d 1h`), because the pinned-range rule compares durations unit by unit. Unit-less numbers
 * ("ambiguous") are summed apart; a range resolves them to one unit from its length.
 *
 * Applying one to a DateTime:
 *   `+`/`-`  first the day..microsecond part as an exact time delta, then months and years
 *            together with the day clamped to the target month (2015-01-31 + 1mo = 02-28, as
 *            dateutil's relativedelta does; upstream raised ValueError, §10 item 13).
 *   `@`      sets the written fields, keeping the others (microseconds included).
 * Any result outside years 1..9999 is a TimexExpressionError, so callers catch one class.
 */
import { DateTime, daysInMonth } from '../time.js';
import { TimexExpressionError } from './errors.js';

export type Unit = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'microsecond';

/** Largest first: the order in which durations are compared. */
export const UNITS: readonly Unit[] = ['year', 'month', 'day', 'hour', 'minute', 'second', 'microsecond'];

/** The reserved unit words of the lexer (§6.1). */
export const UNIT_WORDS: ReadonlyMap<string, Unit> = new Map<string, Unit>([
  ['us', 'microsecond'],
  ['s', 'second'],
  ['sec', 'second'],
  ['m', 'minute'],
  ['min', 'minute'],
  ['h', 'hour'],
  ['hr', 'hour'],
  ['d', 'day'],
  ['mo', 'month'],
  ['y', 'year'],
  ['yr', 'year'],
]);

const UNIT_SYMBOLS: Readonly<Record<Unit, string>> = {
  year: 'y',
  month: 'mo',
  day: 'd',
  hour: 'h',
  minute: 'm',
  second: 's',
  microsecond: 'us',
};

export type DurationOp = '+' | '-' | '@';

type Amounts = Readonly<Partial<Record<Unit, number>>>;

const MIN_DATETIME = DateTime.of(1, 1, 1);
const MAX_DATETIME = DateTime.of(9999, 12, 31, 23, 59, 59, 999_999);

export class Duration {
  /** Amounts of the units written, merged per unit. */
  readonly amounts: Amounts;
  /** Sum of the unit-less numbers; undefined when there are none. */
  readonly ambiguous: number | undefined;
  // Precomputed for `+`/`-`: the time-delta part and the calendar part.
  private readonly deltaSeconds: number;
  private readonly deltaMicros: number;
  private readonly deltaMonths: number;
  private readonly resolved = new Map<Unit, Duration>();

  private constructor(amounts: Amounts, ambiguous: number | undefined) {
    this.amounts = amounts;
    this.ambiguous = ambiguous;
    const a = (unit: Unit): number => amounts[unit] ?? 0;
    this.deltaSeconds = a('day') * 86_400 + a('hour') * 3_600 + a('minute') * 60 + a('second');
    this.deltaMicros = a('microsecond');
    this.deltaMonths = a('year') * 12 + a('month');
  }

  static of(unit: Unit, amount: number): Duration {
    return new Duration({ [unit]: amount }, undefined);
  }

  static unitless(amount: number): Duration {
    return new Duration({}, amount);
  }

  /** `1d 2h`: merges per unit, so `1h 1h` is `2h` and `2 3` is an ambiguous 5. */
  plus(other: Duration): Duration {
    const amounts: Partial<Record<Unit, number>> = { ...this.amounts };
    for (const unit of UNITS) {
      const value = other.amounts[unit];
      if (value !== undefined) amounts[unit] = (amounts[unit] ?? 0) + value;
    }
    const ambiguous = this.ambiguous === undefined ? other.ambiguous : this.ambiguous + (other.ambiguous ?? 0);
    return new Duration(amounts, ambiguous);
  }

  /** False when an amount is too large to be exact in a JS number. */
  isExact(): boolean {
    const ambiguousIsExact = this.ambiguous === undefined || Number.isSafeInteger(this.ambiguous);
    return ambiguousIsExact && Object.values(this.amounts).every(Number.isSafeInteger);
  }

  /** The same duration with its unit-less part added to `unit` (cached: evaluation allocates nothing). */
  resolve(unit: Unit): Duration {
    if (this.ambiguous === undefined) return this;
    let result = this.resolved.get(unit);
    if (!result) {
      result = new Duration({ ...this.amounts, [unit]: (this.amounts[unit] ?? 0) + this.ambiguous }, undefined);
      this.resolved.set(unit, result);
    }
    return result;
  }

  /**
   * Upstream's ordering: walk the units from year down and decide at the first one written in
   * either duration (an unwritten unit counts as 0). So `25h` < `1d`, and a unit-less number is
   * smaller than any positive unit.
   */
  isSmallerThan(other: Duration): boolean {
    for (const unit of UNITS) {
      const mine = this.amounts[unit];
      const theirs = other.amounts[unit];
      if (mine !== undefined || theirs !== undefined) return (mine ?? 0) < (theirs ?? 0);
    }
    return false;
  }

  /** Applies `op` to `dt`. The unit-less part must have been resolved first (ranges do). */
  applyTo(dt: DateTime, op: DurationOp): DateTime {
    switch (op) {
      case '+':
        return this.shift(dt, 1);
      case '-':
        return this.shift(dt, -1);
      case '@':
        return this.replace(dt);
    }
  }

  /** As written, e.g. `1d 2h 3` (for messages). */
  toString(): string {
    const parts = UNITS.filter((unit) => this.amounts[unit] !== undefined).map((unit) => `${this.amounts[unit]}${UNIT_SYMBOLS[unit]}`);
    if (this.ambiguous !== undefined) parts.push(String(this.ambiguous));
    return parts.join(' ');
  }

  private shift(dt: DateTime, sign: 1 | -1): DateTime {
    let result = dt;
    if (this.deltaSeconds !== 0 || this.deltaMicros !== 0) {
      result = DateTime.fromEpoch(dt.epochSeconds + sign * this.deltaSeconds, dt.micro + sign * this.deltaMicros);
      if (result.compare(MIN_DATETIME) < 0 || result.compare(MAX_DATETIME) > 0) throw this.outOfRange(dt, sign);
    }
    if (this.deltaMonths !== 0) {
      const f = result.fields;
      const monthIndex = f.year * 12 + (f.month - 1) + sign * this.deltaMonths;
      const year = Math.floor(monthIndex / 12);
      const month = monthIndex - year * 12 + 1;
      if (year < 1 || year > 9999) throw this.outOfRange(dt, sign);
      result = DateTime.of(year, month, Math.min(f.day, daysInMonth(year, month)), f.hour, f.minute, f.second, f.microsecond);
    }
    return result;
  }

  private replace(dt: DateTime): DateTime {
    try {
      return dt.with(this.amounts);
    } catch (err) {
      if (err instanceof RangeError) throw new TimexExpressionError(`@ ${this} on ${dt}: ${err.message}`);
      throw err;
    }
  }

  private outOfRange(dt: DateTime, sign: 1 | -1): TimexExpressionError {
    return new TimexExpressionError(`${dt} ${sign > 0 ? '+' : '-'} ${this}: date is outside years 1..9999`);
  }
}
