/**
 * The timex language beyond the golden vectors: what the grammar accepts and how it binds, the
 * evaluation environment, the result classes, and the exact edges of upstream's rules
 * (unit-less numbers, duration ordering, pinned wrap-around).
 */
import { describe, expect, it } from 'vitest';
import { DateTime } from '../../src/shared/time.js';
import {
  parseTimex,
  PinnedTimeRange,
  TimeRange,
  Timestamp,
  TimexError,
  TimexExpressionError,
  TimexLexerError,
  TimexParserError,
} from '../../src/shared/timex/index.js';
import { dt, evaluate, show } from './timex-support.js';

const AT = { timestamp: '2014-08-01 02:10:23.000550' };

describe('grammar', () => {
  const vars = { a: '2015-02-01 00:00:00', b: '2015-02-03 00:00:00', c: '2015-02-05 00:00:00', timestamp: '2015-02-01 10:00:00' };

  it.each([
    // `+`, `-`, `@` bind tighter than `to`.
    ['$a to $b + 1d', '[2015-02-01 00:00:00, 2015-02-04 00:00:00)'],
    ['$a + 1d to $b', '[2015-02-02 00:00:00, 2015-02-03 00:00:00)'],
    // They chain left to right whatever the operator.
    ['$a + 1d @ 5h', '2015-02-02 05:00:00'],
    ['$a @ 5h + 1d', '2015-02-02 05:00:00'],
    ['$a @ 23h + 2h - 1d', '2015-02-01 01:00:00'],
    // Parentheses are transparent for the unit-less rule.
    ['(day) + 2', 'day [2015-02-01 02:00:00, 2015-02-02 02:00:00) @ 2015-02-01 10:00:00'],
    ['((day)) @ 2', 'day [2015-02-01 02:00:00, 2015-02-02 02:00:00) @ 2015-02-01 10:00:00'],
    ['(($a to $b)) + 2', '[2015-02-01 02:00:00, 2015-02-03 02:00:00)'],
    ['day(($a + 1d))', 'day [2015-02-02 00:00:00, 2015-02-03 00:00:00) @ 2015-02-02 00:00:00'],
    ['day ( $a )', 'day [2015-02-01 00:00:00, 2015-02-02 00:00:00) @ 2015-02-01 00:00:00'],
    ['($a to $b) + 1d @ 5h', '[2015-02-02 05:00:00, 2015-02-04 05:00:00)'],
    ['$a\n+\t1d', '2015-02-02 00:00:00'],
  ])('%j', (expr, expected) => {
    expect(show(evaluate(expr, vars))).toBe(expected);
  });

  it.each([
    '$a to $b to $c', // `to` takes timestamps only
    'day to $a',
    '$a to day',
    '($a to $b) to $c',
    'day(day)', // a function takes a timestamp
    'day($a to $b)',
    'day()',
    '$a + 2', // unit-less only directly on `to` or a function
    '($a + 1h) + 2',
    'day + 1h @ 2',
    '(($a to $b) + 1h) + 2',
    '$a to $b + 2',
    '1d',
    '$a 1d',
    '$a + d',
    '$1',
    '$a $b',
    '$a + 1d)',
    '()',
  ])('rejects %j', (expr) => {
    expect(() => parseTimex(expr)).toThrow(TimexParserError);
  });

  it('says where a parse error is', () => {
    expect(() => parseTimex('$a +\n  1D')).toThrow('Parse error at line 2, column 4 near "D": not a unit');
    expect(() => parseTimex('$a + 2')).toThrow(/^Parse error at line 1, column 4 near "\+": Durations must have unit/);
  });

  it.each(['$a.', '$a + 1:30h', '$a * 2', '$a\r+ 1d', '$a + 1d # note', '$ä', '$a + ½h'])('rejects the character in %j', (expr) => {
    expect(() => parseTimex(expr)).toThrow(TimexLexerError);
  });

  it('says where a lexer error is', () => {
    expect(() => parseTimex('$a +\n 1.5h')).toThrow('Unexpected character "." at line 2, column 3');
  });

  it('accepts leading zeros and rejects numbers a double cannot hold exactly', () => {
    expect(show(evaluate('$a + 007d', vars))).toBe('2015-02-08 00:00:00');
    expect(() => parseTimex('$a + 9007199254740993us')).toThrow(new TimexParserError('Parse error at line 1, column 6 near "9007199254740993": number too large'));
    expect(() => parseTimex('$a + 9007199254740991us 1us')).toThrow(TimexParserError);
    expect(show(evaluate('$a + 9007199254740991us', vars))).toBe('2300-07-06 23:47:34.740991');
  });
});

describe('expression', () => {
  it.each([
    ['$a to $b + 1d', ['a', 'b']],
    ['$a + 1d', ['a']],
    ['day', ['timestamp']],
    ['week', ['timestamp']],
    ['day($x) + 6h', ['x']],
    ['$timestamp to $timestamp + 1d', ['timestamp']],
  ])('lists the variables of %j', (expr, names) => {
    const expression = parseTimex(expr);
    expect(expression.source).toBe(expr);
    expect([...expression.variables].sort()).toEqual(names);
  });

  it('takes `timestamp` from vars first, then from `now`, then from the clock', () => {
    const day = parseTimex('day');
    const now = dt('2015-03-04 05:06:07');
    expect(day.evaluate({}, now).begin).toEqual(dt('2015-03-04 00:00:00'));
    expect(day.evaluate({ timestamp: dt('2016-01-01 12:00:00') }, now).begin).toEqual(dt('2016-01-01 00:00:00'));
    const before = DateTime.now();
    const pinned = parseTimex('$timestamp').evaluate({}).timestamp;
    expect(pinned.compare(before)).toBeGreaterThanOrEqual(0);
    expect(pinned.compare(DateTime.now())).toBeLessThanOrEqual(0);
  });

  it('does not take variables from the object prototype', () => {
    for (const name of ['constructor', 'toString', '__proto__']) {
      expect(() => parseTimex(`$${name}`).evaluate({})).toThrow(new TimexExpressionError(`Variable ${name} not defined`));
    }
  });

  it('evaluates one parsed expression many times independently', () => {
    const expression = parseTimex('day($t) + 6h');
    const first = expression.evaluate({ t: dt('2014-08-01 02:10:23') });
    const second = expression.evaluate({ t: dt('2014-08-01 19:45:00') });
    expect(show(first)).toBe('day [2014-07-31 06:00:00, 2014-08-01 06:00:00) @ 2014-08-01 02:10:23');
    expect(show(second)).toBe('day [2014-08-01 06:00:00, 2014-08-02 06:00:00) @ 2014-08-01 19:45:00');
    expect(show(expression.evaluate({ t: dt('2014-08-01 02:10:23') }))).toBe(show(first));
  });

  it('checks an unknown function before its argument', () => {
    expect(() => parseTimex('week($missing)').evaluate({})).toThrow(new TimexExpressionError('Unknown Function week'));
  });

  it('raises only TimexError subclasses, each with its own name', () => {
    const failure = (expr: string): unknown => {
      try {
        parseTimex(expr).evaluate({ timestamp: dt('2015-01-31 00:00:00') });
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const names = ['$t.', '$t +', '$nope', '$timestamp @ 25h', '$timestamp + 8000y'].map((expr) => {
      const err = failure(expr);
      return err instanceof TimexError ? err.name : String(err);
    });
    expect(names).toEqual(['TimexLexerError', 'TimexParserError', 'TimexExpressionError', 'TimexExpressionError', 'TimexExpressionError']);
  });
});

describe('results', () => {
  const t = dt('2015-02-01 10:00:00.000001');

  it('a Timestamp is its own begin and end and contains only itself', () => {
    const value = new Timestamp(t);
    expect([value.kind, value.begin, value.end]).toEqual(['timestamp', t, t]);
    expect(value.contains(dt('2015-02-01 10:00:00.000001'))).toBe(true);
    expect(value.contains(t.plusMicros(1))).toBe(false);
    expect(value.contains(t.plusMicros(-1))).toBe(false);
  });

  it('a TimeRange is half-open, and a reversed one contains nothing', () => {
    const end = t.plusMicros(10);
    const value = new TimeRange(t, end);
    expect([value.kind, value.timestamp]).toEqual(['range', t]);
    expect([value.contains(t), value.contains(end.plusMicros(-1)), value.contains(end), value.contains(t.plusMicros(-1))]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    const reversed = evaluate('$b to $a', { a: '2015-02-01 00:00:00', b: '2015-02-01 00:00:30' });
    expect([reversed.contains(dt('2015-02-01 00:00:00')), reversed.contains(dt('2015-02-01 00:00:10'))]).toEqual([false, false]);
  });

  it('a PinnedTimeRange is a TimeRange with its pinned time and unit', () => {
    const value = evaluate('month', AT);
    expect(value).toBeInstanceOf(TimeRange);
    expect(value).toBeInstanceOf(PinnedTimeRange);
    expect(value.kind).toBe('pinned');
    expect(value.timestamp).toEqual(dt('2014-08-01 00:00:00'));
    expect(value.contains(dt('2014-08-31 23:59:59.999999'))).toBe(true);
    expect(value.contains(dt('2014-09-01 00:00:00'))).toBe(false);
  });
});

describe('unit-less numbers on a range resolve by its length', () => {
  const from = '2015-02-01 00:00:00';
  it.each([
    ['2016-02-01 00:00:00', 'month', '2015-03-01 00:00:00'], // 365 days
    ['2016-01-31 23:59:59.999999', 'day', '2015-02-02 00:00:00'], // just under
    ['2015-03-01 00:00:00', 'day', '2015-02-02 00:00:00'], // 28 days
    ['2015-02-28 23:59:59.999999', 'hour', '2015-02-01 01:00:00'],
    ['2015-02-02 00:00:00', 'hour', '2015-02-01 01:00:00'], // 1 day
    ['2015-02-01 23:59:59.999999', 'minute', '2015-02-01 00:01:00'],
    ['2015-02-01 01:00:00', 'minute', '2015-02-01 00:01:00'], // 1 hour
    ['2015-02-01 00:59:59.999999', 'second', '2015-02-01 00:00:01'],
    ['2015-02-01 00:01:00', 'second', '2015-02-01 00:00:01'], // 1 minute
    ['2015-02-01 00:00:59.999999', 'microsecond', '2015-02-01 00:00:00.000001'],
    ['2015-01-01 00:00:00', 'microsecond', '2015-02-01 00:00:00.000001'], // negative length
  ])('[%s to %s) takes %s', (to, _unit, begin) => {
    const value = evaluate('($a to $b) + 1', { a: from, b: to });
    expect(String(value.begin)).toBe(begin);
  });

  it('merges with the same unit written explicitly', () => {
    expect(show(evaluate('($a to $b) + 2 1h 3', { a: from, b: '2015-02-03 00:00:00' }))).toBe('[2015-02-01 06:00:00, 2015-02-03 06:00:00)');
  });
});

describe('pinned wrap-around', () => {
  it.each([
    // Units are compared as written from the year down: 59m 3600s is smaller than 1h (no hour written).
    ['hour + 59m 3600s', 'hour [2014-08-01 01:59:00, 2014-08-01 02:59:00) @ 2014-08-01 02:10:23.000550'],
    // Steps by the current length (31 days here) as often as needed.
    ['month + 40d', 'month [2014-07-10 00:00:00, 2014-08-10 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['month - 70d', 'month [2014-07-24 00:00:00, 2014-08-24 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['hour + 100000m', 'hour [2014-08-01 01:40:00, 2014-08-01 02:40:00) @ 2014-08-01 02:10:23.000550'],
    ['day + 0d', 'day [2014-08-01 00:00:00, 2014-08-02 00:00:00) @ 2014-08-01 02:10:23.000550'],
    ['day + 6h + 6h', 'day [2014-07-31 12:00:00, 2014-08-01 12:00:00) @ 2014-08-01 02:10:23.000550'],
  ])('%s', (expr, expected) => {
    expect(show(evaluate(expr, AT))).toBe(expected);
  });

  it('keeps the pinned time inside when it is the new end exactly or before the new begin by microseconds', () => {
    expect(show(evaluate('day + 2h 10m 23s 550us', AT))).toBe('day [2014-08-01 02:10:23.000550, 2014-08-02 02:10:23.000550) @ 2014-08-01 02:10:23.000550');
    expect(show(evaluate('hour @ 5us', { timestamp: '2014-08-01 02:00:00' }))).toBe(
      'hour [2014-08-01 01:00:00.000005, 2014-08-01 02:00:00.000005) @ 2014-08-01 02:00:00',
    );
  });

  it('cannot keep an empty range pinned (upstream never returns)', () => {
    expect(() => evaluate('hour @ 0h', AT)).toThrow(TimexExpressionError);
    // At 23:xx the same replace gives a whole day, which still contains the pinned time.
    expect(show(evaluate('hour @ 0h', { timestamp: '2014-08-01 23:10:00' }))).toBe('hour [2014-08-01 00:00:00, 2014-08-02 00:00:00) @ 2014-08-01 23:10:00');
  });
});
