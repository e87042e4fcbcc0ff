/**
 * Shared helpers of the timex tests: evaluate with string datetimes and print results in one
 * readable line, so an expectation reads like the spec's vectors.
 */
import { DateTime } from '../../src/shared/time.js';
import { parseTimex, PinnedTimeRange, TimeRange, type TimexValue } from '../../src/shared/timex/index.js';

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with `T`) to a DateTime. */
export function dt(text: string): DateTime {
  return DateTime.parse(text);
}

/** Parses `expr` and evaluates it with the given variables, written as strings. */
export function evaluate(expr: string, vars: Readonly<Record<string, string>>): TimexValue {
  const env: Record<string, DateTime> = {};
  for (const [name, value] of Object.entries(vars)) env[name] = dt(value);
  return parseTimex(expr).evaluate(env);
}

/**
 * `2014-08-01 02:10:23.000550` for a Timestamp, `[begin, end)` for a range, and
 * `day [begin, end) @ pinnedTo` for a pinned range (Python str() of each datetime).
 */
export function show(value: TimexValue): string {
  if (value instanceof PinnedTimeRange) return `${value.unit} [${value.begin}, ${value.end}) @ ${value.pinnedTo}`;
  if (value instanceof TimeRange) return `[${value.begin}, ${value.end})`;
  return String(value.timestamp);
}
