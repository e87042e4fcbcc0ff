/**
 * Microsecond-precision UTC datetimes (invariant 8: JS Date stops at milliseconds).
 *
 * A DateTime is naive UTC, as winchester stores every time. It holds whole epoch seconds
 * plus a microsecond part, so every year from 1 to 9999 is exact (a single number of epoch
 * microseconds would lose precision after the year 2255).
 *
 * Formats, as Python prints them (spec appendix B):
 *   toSql()        2015-02-27 15:27:18.603932   (always 6 digits; what MySQL DATETIME(6) takes)
 *   toString()     2015-02-27 15:27:18[.603932] (Python str(): fraction only when µs ≠ 0)
 *   toIsoformat()  2015-02-27T15:27:18[.603932] (Python isoformat())
 */

const MICROS_PER_SECOND = 1_000_000;
/** Epoch milliseconds at performance.now() = 0, as DateTime.now() keeps it in step with Date.now(). */
let clockOrigin = performance.timeOrigin;
const SECONDS_PER_DAY = 86_400;

export interface DateTimeFields {
  year: number;
  month: number; // 1..12
  day: number; // 1..31
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

export class DateTime {
  /** Whole seconds since 1970-01-01T00:00:00 UTC (floor). */
  readonly epochSeconds: number;
  /** 0..999999 */
  readonly micro: number;

  private constructor(epochSeconds: number, micro: number) {
    this.epochSeconds = epochSeconds;
    this.micro = micro;
  }

  /** Builds from calendar fields; throws RangeError for values Python's datetime() rejects. */
  static of(year: number, month: number, day = 1, hour = 0, minute = 0, second = 0, microsecond = 0): DateTime {
    checkRange('year', year, 1, 9999);
    checkRange('month', month, 1, 12);
    checkRange('day', day, 1, daysInMonth(year, month));
    checkRange('hour', hour, 0, 23);
    checkRange('minute', minute, 0, 59);
    checkRange('second', second, 0, 59);
    checkRange('microsecond', microsecond, 0, 999_999);
    const days = daysFromCivil(year, month, day);
    return new DateTime(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second, microsecond);
  }

  static fromFields(f: DateTimeFields): DateTime {
    return DateTime.of(f.year, f.month, f.day, f.hour, f.minute, f.second, f.microsecond);
  }

  /** From epoch seconds and microseconds; the microseconds may be any integer (normalised). */
  static fromEpoch(epochSeconds: number, micro = 0): DateTime {
    const carry = Math.floor(micro / MICROS_PER_SECOND);
    return new DateTime(epochSeconds + carry, micro - carry * MICROS_PER_SECOND);
  }

  static fromEpochMicros(micros: number): DateTime {
    return DateTime.fromEpoch(0, micros);
  }

  static fromDate(d: Date): DateTime {
    const ms = d.getTime();
    return DateTime.fromEpoch(Math.floor(ms / 1000), (ms - Math.floor(ms / 1000) * 1000) * 1000);
  }

  /**
   * Wall clock with microseconds: the sub-millisecond part comes from the monotonic clock
   * (performance.now()), the time itself from the system clock (Date.now()), so a process
   * follows the clock when it is set (an NTP step after boot, a VM resumed, an operator's
   * `date -s`). The monotonic clock alone keeps the view of the clock the process started
   * with: a worker started before such a step would keep judging expiry and fire times by the
   * old clock for as long as it runs. Goes backwards only when the system clock does.
   */
  static now(): DateTime {
    const wall = Date.now();
    let ms = clockOrigin + performance.now();
    // In step, the precise time is within the wall clock's millisecond: [wall, wall + 1).
    if (ms < wall || ms >= wall + 1) {
      clockOrigin += (ms < wall ? wall : wall + 0.999) - ms;
      ms = clockOrigin + performance.now();
    }
    return DateTime.fromEpochMicros(Math.round(ms * 1000));
  }

  /**
   * Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` or the same with `T` (what MySQL returns with
   * dateStrings, and what Python str()/isoformat() print). Throws RangeError otherwise.
   */
  static parse(text: string): DateTime {
    const m = SQL_RE.exec(text);
    if (!m) throw new RangeError(`not a datetime: ${JSON.stringify(text)}`);
    const frac = m[7] ?? '';
    return DateTime.of(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, frac ? +frac.padEnd(6, '0').slice(0, 6) : 0);
  }

  get fields(): DateTimeFields {
    const days = Math.floor(this.epochSeconds / SECONDS_PER_DAY);
    let rest = this.epochSeconds - days * SECONDS_PER_DAY;
    const [year, month, day] = civilFromDays(days);
    const hour = Math.floor(rest / 3600);
    rest -= hour * 3600;
    const minute = Math.floor(rest / 60);
    return { year, month, day, hour, minute, second: rest - minute * 60, microsecond: this.micro };
  }

  /** Python datetime.replace(): sets the given fields; throws RangeError on an invalid result. */
  with(changes: Partial<DateTimeFields>): DateTime {
    return DateTime.fromFields({ ...this.fields, ...changes });
  }

  plusMicros(micros: number): DateTime {
    return DateTime.fromEpoch(this.epochSeconds, this.micro + micros);
  }

  plusSeconds(seconds: number): DateTime {
    const whole = Math.floor(seconds);
    return DateTime.fromEpoch(this.epochSeconds + whole, this.micro + Math.round((seconds - whole) * MICROS_PER_SECOND));
  }

  /** Midnight of the same UTC day. */
  startOfDay(): DateTime {
    return new DateTime(Math.floor(this.epochSeconds / SECONDS_PER_DAY) * SECONDS_PER_DAY, 0);
  }

  /** this − other in microseconds (exact while under 2^53 µs, about 285 years). */
  diffMicros(other: DateTime): number {
    return (this.epochSeconds - other.epochSeconds) * MICROS_PER_SECOND + (this.micro - other.micro);
  }

  compare(other: DateTime): number {
    return this.epochSeconds - other.epochSeconds || this.micro - other.micro;
  }

  equals(other: DateTime): boolean {
    return this.epochSeconds === other.epochSeconds && this.micro === other.micro;
  }

  isBefore(other: DateTime): boolean {
    return this.compare(other) < 0;
  }

  isAfter(other: DateTime): boolean {
    return this.compare(other) > 0;
  }

  /** Epoch microseconds as a number: exact for years 1685..2255, approximate beyond. */
  toEpochMicros(): number {
    return this.epochSeconds * MICROS_PER_SECOND + this.micro;
  }

  toDate(): Date {
    return new Date(this.epochSeconds * 1000 + Math.floor(this.micro / 1000));
  }

  /** `YYYY-MM-DD HH:MM:SS.ffffff`, for DATETIME(6) columns. */
  toSql(): string {
    return `${this.datePart()} ${this.timePart()}.${pad(this.micro, 6)}`;
  }

  /** Python str(datetime). */
  toString(): string {
    return this.format(' ');
  }

  /** Python datetime.isoformat() of a naive datetime. */
  toIsoformat(): string {
    return this.format('T');
  }

  toJSON(): string {
    return this.toIsoformat();
  }

  private format(sep: string): string {
    const base = `${this.datePart()}${sep}${this.timePart()}`;
    return this.micro === 0 ? base : `${base}.${pad(this.micro, 6)}`;
  }

  private datePart(): string {
    const f = this.fields;
    return `${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}`;
  }

  private timePart(): string {
    const f = this.fields;
    return `${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}`;
  }
}

export function minDateTime(a: DateTime, b: DateTime): DateTime {
  return a.compare(b) <= 0 ? a : b;
}

export function maxDateTime(a: DateTime, b: DateTime): DateTime {
  return a.compare(b) >= 0 ? a : b;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const SQL_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} ${value} is out of range ${min}..${max}`);
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

// Howard Hinnant's days_from_civil / civil_from_days: proleptic Gregorian, exact for any year.
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}
