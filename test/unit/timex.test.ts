/**
 * timex against upstream: every vector of the golden file (what upstream Python did), and the
 * spec §6.3 vectors by name. Where upstream crashed on a bug we fix (spec §10 item 13, §6.2
 * "Exception"), DEPARTURES names the golden case, says why, and gives what we return instead.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DateTime } from '../../src/shared/time.js';
import {
  parseTimex,
  PinnedTimeRange,
  TimeRange,
  Timestamp,
  TimexError,
  TimexExpressionError,
  TimexLexerError,
  TimexParserError,
  type TimexExpression,
  type TimexValue,
} from '../../src/shared/timex/index.js';
import { dt, evaluate, show } from './timex-support.js';

interface GoldenResult {
  type: 'Timestamp' | 'TimeRange' | 'PinnedTimeRange';
  timestamp?: string;
  begin?: string;
  end?: string;
  pinned_to?: string;
  unit?: string;
}

type ErrorName = 'TimexLexerError' | 'TimexParserError' | 'TimexExpressionError';
type Stage = 'parse' | 'eval';
type Outcome = { result: GoldenResult } | { error: ErrorName; stage: Stage };

interface GoldenVector {
  id: string;
  expr: string;
  vars: Record<string, string>;
  result?: GoldenResult;
  error?: string;
  stage?: Stage;
}

const GOLDEN_FILE = new URL('../../fixtures/golden/timex/timex-vectors.jsonl', import.meta.url);
const VECTORS: GoldenVector[] = readFileSync(GOLDEN_FILE, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as GoldenVector);

/** The Python errors upstream raised that we keep, by the class we raise for them. */
const KEPT_ERRORS: Readonly<Record<string, ErrorName>> = {
  TimexLexerError: 'TimexLexerError',
  TimexParserError: 'TimexParserError',
  TimexExpressionError: 'TimexExpressionError',
  ValueError: 'TimexExpressionError', // `@` out of range (`@ 25h`, `@ 31d` in February)
};

interface Departure {
  /** The Python error class golden records. */
  golden: string;
  reason: string;
  ours: Outcome;
}

const range = (begin: string, end: string): Outcome => ({ result: { type: 'TimeRange', begin, end } });
const timestamp = (value: string): Outcome => ({ result: { type: 'Timestamp', timestamp: value } });
const CLAMP = 'month/year arithmetic clamps the day to the target month (spec §10.13; upstream ValueError)';
const UNPIN = 'a pinned range moved by a duration not smaller than its unit becomes the plain moved range (spec §10.13; upstream AttributeError on self.time_range)';
const EARLY_END = 'input that ends too early is a TimexParserError (spec §6.2 Exception; upstream AttributeError in its error hook)';
const UNIT_VARIABLE = 'any name after $ is a variable (spec §10.13); it parses, and evaluation fails only because the vector does not bind it';

const DEPARTURES: Readonly<Record<string, Departure>> = {
  'ts-1': { golden: 'ValueError', reason: CLAMP, ours: timestamp('2015-02-28T10:00:00.000000') },
  'ts-2': { golden: 'ValueError', reason: CLAMP, ours: timestamp('2017-02-28T12:00:00.000000') },
  'ts-10': { golden: 'ValueError', reason: CLAMP, ours: timestamp('2015-02-28T00:00:00.000000') },
  'range-13': { golden: 'ValueError', reason: CLAMP, ours: range('2015-02-28T10:00:00.000000', '2015-03-01T10:00:00.000000') },
  'pinned-7': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-08-01T03:00:00.000000', '2014-08-01T04:00:00.000000') },
  'pinned-8': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-08-02T00:00:00.000000', '2014-08-03T00:00:00.000000') },
  'pinned-9': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-07-31T00:00:00.000000', '2014-08-01T00:00:00.000000') },
  'pinned-10': {
    golden: 'AttributeError',
    reason: `${UNPIN}; @ 1d sets the day of both ends, so the range is empty`,
    ours: range('2014-08-01T00:00:00.000000', '2014-08-01T00:00:00.000000'),
  },
  'pinned-11': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-08-02T01:00:00.000000', '2014-08-03T01:00:00.000000') },
  'pinned-12': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-07-01T00:00:00.000000', '2014-07-02T00:00:00.000000') },
  'pinned-25': { golden: 'AttributeError', reason: UNPIN, ours: range('2014-09-01T00:00:00.000000', '2014-10-01T00:00:00.000000') },
  'syntax-1': {
    golden: 'TimexParserError',
    reason: '`1h30m` lexes as `1h 30m` (spec §10.13; upstream lexed the word `h30m`)',
    ours: timestamp('2015-01-15T10:00:00.000001'),
  },
  'syntax-3': { golden: 'TimexParserError', reason: UNIT_VARIABLE, ours: { error: 'TimexExpressionError', stage: 'eval' } },
  'syntax-4': { golden: 'TimexParserError', reason: UNIT_VARIABLE, ours: { error: 'TimexExpressionError', stage: 'eval' } },
  'syntax-8': { golden: 'AttributeError', reason: EARLY_END, ours: { error: 'TimexParserError', stage: 'parse' } },
  'syntax-9': { golden: 'AttributeError', reason: EARLY_END, ours: { error: 'TimexParserError', stage: 'parse' } },
  'syntax-11': { golden: 'AttributeError', reason: EARLY_END, ours: { error: 'TimexParserError', stage: 'parse' } },
  'syntax-12': { golden: 'AttributeError', reason: EARLY_END, ours: { error: 'TimexParserError', stage: 'parse' } },
};

function iso(t: DateTime): string {
  return t.toSql().replace(' ', 'T');
}

function describeValue(value: TimexValue): GoldenResult {
  if (value instanceof PinnedTimeRange) {
    return { type: 'PinnedTimeRange', begin: iso(value.begin), end: iso(value.end), pinned_to: iso(value.pinnedTo), unit: value.unit };
  }
  if (value instanceof TimeRange) return { type: 'TimeRange', begin: iso(value.begin), end: iso(value.end) };
  return { type: 'Timestamp', timestamp: iso(value.timestamp) };
}

/** What we do with a vector: the result or the error class and stage. */
function outcome(vector: GoldenVector): Outcome {
  const env: Record<string, DateTime> = {};
  for (const [name, value] of Object.entries(vector.vars)) env[name] = dt(value);
  let expression: TimexExpression;
  try {
    expression = parseTimex(vector.expr);
  } catch (err) {
    return errorOutcome(err, 'parse');
  }
  try {
    return { result: describeValue(expression.evaluate(env)) };
  } catch (err) {
    return errorOutcome(err, 'eval');
  }
}

function errorOutcome(err: unknown, stage: Stage): Outcome {
  if (!(err instanceof TimexError)) throw err;
  return { error: err.name as ErrorName, stage };
}

/** What golden says upstream did, with kept Python errors mapped to our classes. */
function goldenOutcome(vector: GoldenVector): Outcome | undefined {
  if (vector.result) return { result: vector.result };
  const pythonClass = vector.error?.split(':')[0] ?? '';
  const ours = KEPT_ERRORS[pythonClass];
  return ours === undefined || vector.stage === undefined ? undefined : { error: ours, stage: vector.stage };
}

describe('timex golden vectors', () => {
  it('reads all 122 vectors with unique ids', () => {
    expect(VECTORS).toHaveLength(122);
    expect(new Set(VECTORS.map((v) => v.id)).size).toBe(122);
  });

  it('lists a departure exactly for the golden errors it fixes', () => {
    const byId = new Map(VECTORS.map((v) => [v.id, v]));
    for (const [id, departure] of Object.entries(DEPARTURES)) {
      expect(byId.get(id)?.error?.split(':')[0], id).toBe(departure.golden);
    }
    // Every golden outcome we cannot reproduce (a Python crash) must be a listed departure.
    const unmapped = VECTORS.filter((v) => goldenOutcome(v) === undefined && !(v.id in DEPARTURES)).map((v) => v.id);
    expect(unmapped).toEqual([]);
  });

  it.each(VECTORS.map((v) => [v.id, v] as const))('%s', (id, vector) => {
    const departure = DEPARTURES[id];
    const expected = departure ? departure.ours : goldenOutcome(vector);
    expect(outcome(vector), `${vector.expr} ${departure ? `(departure: ${departure.reason})` : ''}`).toEqual(expected);
  });

  it('gives result kinds that agree with the result classes', () => {
    const kinds = VECTORS.filter((v) => v.result && !(v.id in DEPARTURES)).map((v) => {
      const value = evaluate(v.expr, v.vars);
      return [v.result?.type, value.kind, value instanceof Timestamp, value instanceof PinnedTimeRange];
    });
    const expected: Record<string, [string, boolean, boolean]> = {
      Timestamp: ['timestamp', true, false],
      TimeRange: ['range', false, false],
      PinnedTimeRange: ['pinned', false, true],
    };
    for (const [type, kind, isTimestamp, isPinned] of kinds) {
      expect([kind, isTimestamp, isPinned]).toEqual(expected[String(type)]);
    }
  });
});

describe('spec §6.3 vectors', () => {
  const vars = { test_thingy: '2014-08-01 02:10:23.000550', other: '2014-08-07 03:20:00', timestamp: '2014-08-01 02:10:23.000550' };
  const evening = { timestamp: '2014-08-01 19:45:30.000225' };
  const cases: [string, Record<string, string>, string][] = [
    ['$test_thingy + 1d 2h', vars, '2014-08-02 04:10:23.000550'],
    ['$test_thingy - 1d 2h', vars, '2014-07-31 00:10:23.000550'],
    ['$test_thingy @ 7d 6h', vars, '2014-08-07 06:10:23.000550'],
    ['($test_thingy to $other) + 1d 2h', vars, '[2014-08-02 04:10:23.000550, 2014-08-08 05:20:00)'],
    ['($test_thingy to $other) - 1d 2h', vars, '[2014-07-31 00:10:23.000550, 2014-08-06 01:20:00)'],
    ['($test_thingy to $other) @ 6h', vars, '[2014-08-01 06:10:23.000550, 2014-08-07 06:20:00)'],
    ['$test_thingy', vars, '2014-08-01 02:10:23.000550'],
    ['$test_thingy to $other', vars, '[2014-08-01 02:10:23.000550, 2014-08-07 03:20:00)'],
    ['day($test_thingy)', vars, 'day [2014-08-01 00:00:00, 2014-08-02 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day', vars, 'day [2014-08-01 00:00:00, 2014-08-02 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day @ 2', vars, 'day [2014-08-01 02:00:00, 2014-08-02 02:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day @ 6h', vars, 'day [2014-07-31 06:00:00, 2014-08-01 06:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day + 6h', vars, 'day [2014-07-31 06:00:00, 2014-08-01 06:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day - 6h', evening, 'day [2014-08-01 18:00:00, 2014-08-02 18:00:00) @ 2014-08-01 19:45:30.000225'],
    ['hour', vars, 'hour [2014-08-01 02:00:00, 2014-08-01 03:00:00) @ 2014-08-01 02:10:23.000550'],
    ['month', vars, 'month [2014-08-01 00:00:00, 2014-09-01 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['year', vars, 'year [2014-01-01 00:00:00, 2015-01-01 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day + 25h', vars, 'day [2014-08-01 01:00:00, 2014-08-02 01:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day + 1h 2', vars, 'day [2014-07-31 03:00:00, 2014-08-01 03:00:00) @ 2014-08-01 02:10:23.000550'],
    ['month + 1d', vars, 'month [2014-07-02 00:00:00, 2014-08-02 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['$timestamp + 1h 1h', vars, '2014-08-01 04:10:23.000550'],
    ['$timestamp @ 0h 0m 0s', vars, '2014-08-01 00:00:00.000550'],
    ['$timestamp @ 0h 0m 0s 0us', vars, '2014-08-01 00:00:00'],
    ['$timestamp + 1mo', vars, '2014-09-01 02:10:23.000550'],
    ['$timestamp - 1mo', { timestamp: '2015-01-15 00:00:00' }, '2014-12-15 00:00:00'],
    ['$timestamp @ 2017y', vars, '2017-08-01 02:10:23.000550'],
  ];
  it.each(cases)('%s', (expr, env, expected) => {
    expect(show(evaluate(expr, env))).toBe(expected);
  });

  it.each([
    ['$timestamp + 2', TimexParserError],
    ['(day + 1h) @ 2', TimexParserError],
    ['$timestamp + 1.5h', TimexLexerError],
  ] as const)('%s fails to parse', (expr, errorClass) => {
    expect(() => parseTimex(expr)).toThrow(errorClass);
  });

  it('fails at evaluation on an unknown function and an unbound variable', () => {
    const week = parseTimex('week');
    expect(() => week.evaluate({ timestamp: dt('2014-08-01 02:10:23') })).toThrow(new TimexExpressionError('Unknown Function week'));
    const unbound = parseTimex('$x');
    expect(() => unbound.evaluate({ timestamp: dt('2014-08-01 02:10:23') })).toThrow(new TimexExpressionError('Variable x not defined'));
  });
});
