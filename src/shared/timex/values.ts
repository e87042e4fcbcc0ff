/**
 * What a timex expression evaluates to (spec §6.3). Every result answers `begin`, `end`,
 * `timestamp` and `contains`, so callers can use a Timestamp where a range is expected
 * (expiry takes `.timestamp`; criteria test `contains`). `kind` tells them apart without
 * instanceof.
 */
import type { DateTime } from '../time.js';

/** The units of the range functions hour(), day(), month() and year(). */
export type RangeUnit = 'hour' | 'day' | 'month' | 'year';

export class Timestamp {
  readonly kind = 'timestamp' as const;
  readonly timestamp: DateTime;

  constructor(timestamp: DateTime) {
    this.timestamp = timestamp;
  }

  get begin(): DateTime {
    return this.timestamp;
  }

  get end(): DateTime {
    return this.timestamp;
  }

  /** A Timestamp contains only itself. */
  contains(t: DateTime): boolean {
    return t.equals(this.timestamp);
  }
}

/** Half-open [begin, end). `to` does not order its ends, so a range may contain nothing. */
export class TimeRange {
  readonly kind: 'range' | 'pinned' = 'range';
  readonly begin: DateTime;
  readonly end: DateTime;

  constructor(begin: DateTime, end: DateTime) {
    this.begin = begin;
    this.end = end;
  }

  get timestamp(): DateTime {
    return this.begin;
  }

  contains(t: DateTime): boolean {
    return this.begin.compare(t) <= 0 && t.compare(this.end) < 0;
  }
}

/** A range made by a range function; shifting it by less than its unit keeps it around `pinnedTo`. */
export class PinnedTimeRange extends TimeRange {
  override readonly kind = 'pinned' as const;
  readonly pinnedTo: DateTime;
  readonly unit: RangeUnit;

  constructor(begin: DateTime, end: DateTime, pinnedTo: DateTime, unit: RangeUnit) {
    super(begin, end);
    this.pinnedTo = pinnedTo;
    this.unit = unit;
  }
}

export type TimexValue = Timestamp | TimeRange;
