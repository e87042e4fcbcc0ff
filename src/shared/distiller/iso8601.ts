/**
 * The ISO 8601 dialect stackdistiller accepts for `datetime` traits and the envelope timestamp:
 * the grammar of iso8601 0.1.10 (`parse_date`) as spec §3.3 lists it, converted to naive UTC.
 *
 *   date   YYYY | YYYY-M[M] | YYYY-M[M]-D[D] | YYYYMMDD
 *   time   (only after a full date) `T` or one space, then HH[[:]MM[[:]SS[.fraction]]]
 *   zone   (only after a time) Z | ±HH | ±HH[:]MM           no zone = UTC
 *
 * The whole string must match (no surrounding spaces, no `,` fraction, case-sensitive `T`/`Z`).
 * Missing parts default to month/day 1 and time 0. Fraction digits beyond 6 are truncated.
 * Impossible values (2015-02-30, hour 24, second 60) are rejected as Python's datetime() does.
 * Hand-written because Date.parse is both more permissive and millisecond-only.
 */
import { DateTime } from '../time.js';

const ISO8601 = new RegExp(
  '^(?<year>\\d{4})(?:' +
    '-(?<monthOnly>\\d{1,2})' +
    '|(?:-(?<monthDash>\\d{1,2})-(?<dayDash>\\d{1,2})|(?<month>\\d{2})(?<day>\\d{2}))' +
    '(?:[T ](?<hour>\\d{2})(?::?(?<minute>\\d{2}))?(?::?(?<second>\\d{2})(?:\\.(?<fraction>\\d+))?)?' +
    '(?<zone>Z|(?<tzSign>[-+])(?<tzHour>\\d{2})(?::?(?<tzMinute>\\d{2}))?)?)?' +
    ')?$',
);

const MIN_EPOCH_SECONDS = DateTime.of(1, 1, 1).epochSeconds;
const MAX_EPOCH_SECONDS = DateTime.of(9999, 12, 31, 23, 59, 59).epochSeconds;

/** Parses and converts to naive UTC. Throws RangeError saying why the text is not accepted. */
export function parseIso8601(text: string): DateTime {
  const g = ISO8601.exec(text)?.groups;
  if (!g) throw new RangeError(`${JSON.stringify(text)} is not an ISO 8601 date`);
  const fraction = g['fraction'];
  const local = DateTime.of(
    Number(g['year']),
    num(g['monthOnly'] ?? g['monthDash'] ?? g['month'], 1),
    num(g['dayDash'] ?? g['day'], 1),
    num(g['hour'], 0),
    num(g['minute'], 0),
    num(g['second'], 0),
    fraction === undefined ? 0 : Number(fraction.slice(0, 6).padEnd(6, '0')),
  );
  if (g['tzSign'] === undefined) return local;

  const tzHour = Number(g['tzHour']);
  const tzMinute = num(g['tzMinute'], 0);
  if (tzHour > 23 || tzMinute > 59) throw new RangeError(`${JSON.stringify(text)} has an impossible UTC offset`);
  const offsetSeconds = (g['tzSign'] === '-' ? -1 : 1) * (tzHour * 3600 + tzMinute * 60);
  const utcSeconds = local.epochSeconds - offsetSeconds;
  if (utcSeconds < MIN_EPOCH_SECONDS || utcSeconds > MAX_EPOCH_SECONDS) {
    throw new RangeError(`${JSON.stringify(text)} is outside years 1..9999 in UTC`);
  }
  return DateTime.fromEpoch(utcSeconds, local.micro);
}

function num(digits: string | undefined, fallback: number): number {
  return digits === undefined ? fallback : Number(digits);
}
