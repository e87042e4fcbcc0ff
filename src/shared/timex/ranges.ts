/**
 * Range semantics (spec §6.3): the range functions hour()/day()/month()/year(), the unit a
 * unit-less number takes on a range, and `+`/`-`/`@` on a range with the pinned wrap-around.
 *
 * Wrap-around: a pinned range moved by a duration smaller than its unit steps by whole range
 * lengths until it contains its pinned time again (`day + 6h` at 02:10 is [-1d 06:00, 06:00)).
 * Moved by a larger duration it becomes a plain range; upstream crashed there with
 * AttributeError (§10 item 13).
 */
import { DateTime } from '../time.js';
import { Duration, type DurationOp, type Unit } from './duration.js';
import { TimexExpressionError } from './errors.js';
import { PinnedTimeRange, TimeRange, type RangeUnit } from './values.js';

const UNIT_DURATIONS: Readonly<Record<RangeUnit, Duration>> = {
  hour: Duration.of('hour', 1),
  day: Duration.of('day', 1),
  month: Duration.of('month', 1),
  year: Duration.of('year', 1),
};

const RANGE_UNITS: ReadonlySet<string> = new Set(Object.keys(UNIT_DURATIONS));

export function isRangeFunction(name: string): name is RangeUnit {
  return RANGE_UNITS.has(name);
}

/** hour(t), day(t), month(t), year(t): the unit-long range starting at `t` truncated to the unit. */
export function rangeAround(t: DateTime, unit: RangeUnit): PinnedTimeRange {
  const f = t.fields;
  let begin: DateTime;
  switch (unit) {
    case 'hour':
      begin = DateTime.of(f.year, f.month, f.day, f.hour);
      break;
    case 'day':
      begin = t.startOfDay();
      break;
    case 'month':
      begin = DateTime.of(f.year, f.month);
      break;
    case 'year':
      begin = DateTime.of(f.year, 1);
      break;
  }
  return new PinnedTimeRange(begin, UNIT_DURATIONS[unit].applyTo(begin, '+'), t, unit);
}

/** `range op duration`, both ends alike; a pinned range wraps around its pinned time. */
export function applyToRange(range: TimeRange, op: DurationOp, duration: Duration): TimeRange {
  const resolved = duration.ambiguous === undefined ? duration : duration.resolve(ambiguousUnit(range));
  const begin = resolved.applyTo(range.begin, op);
  const end = resolved.applyTo(range.end, op);
  // Compared as written. A unit-less number only ever applies to a fresh function result, where
  // it resolves to the unit below the range's, so counting it as smaller (upstream) is the same.
  if (range instanceof PinnedTimeRange && duration.isSmallerThan(UNIT_DURATIONS[range.unit])) {
    return repin(begin, end, range.pinnedTo, range.unit);
  }
  return new TimeRange(begin, end);
}

const MINUTE = 60;
const HOUR = 3_600;
const DAY = 86_400;

/** The unit a unit-less number takes on `range`, from the range's length. */
function ambiguousUnit(range: TimeRange): Unit {
  const seconds = range.end.epochSeconds - range.begin.epochSeconds;
  const micros = range.end.micro - range.begin.micro;
  const atLeast = (limit: number): boolean => seconds > limit || (seconds === limit && micros >= 0);
  if (atLeast(365 * DAY)) return 'month';
  if (atLeast(28 * DAY)) return 'day';
  if (atLeast(DAY)) return 'hour';
  if (atLeast(HOUR)) return 'minute';
  if (atLeast(MINUTE)) return 'second';
  return 'microsecond';
}

/**
 * Steps [begin, end) by its own length until it contains `pinnedTo`. Both ends of a pinned range
 * always share their sub-second part (truncated when made, then moved alike), so the length is
 * whole seconds and the step count is exact integer arithmetic.
 */
function repin(begin: DateTime, end: DateTime, pinnedTo: DateTime, unit: RangeUnit): PinnedTimeRange {
  const length = end.epochSeconds - begin.epochSeconds;
  if (length <= 0) {
    // e.g. `hour @ 0h` at 02:10 gives [00:00, 00:00); upstream never returns from its loop.
    throw new TimexExpressionError(`cannot keep the empty range [${begin}, ${end}) pinned to ${pinnedTo}`);
  }
  const offset = pinnedTo.epochSeconds - begin.epochSeconds - (pinnedTo.micro < begin.micro ? 1 : 0);
  const shift = Math.floor(offset / length) * length;
  return new PinnedTimeRange(begin.plusSeconds(shift), end.plusSeconds(shift), pinnedTo, unit);
}
