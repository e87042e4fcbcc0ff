/**
 * The timex bugs we fix (spec §10 item 13 and the §6.2 "Exception"), one block per fix, each
 * with the neighbouring behaviour that must stay as upstream.
 */
import { describe, expect, it } from 'vitest';
import {
  parseTimex,
  PinnedTimeRange,
  TimexExpressionError,
  TimexParserError,
} from '../../src/shared/timex/index.js';
import { dt, evaluate, show } from './timex-support.js';

const AT = { timestamp: '2014-08-01 02:10:23.000550' };

describe('fix 1: input that ends too early is a TimexParserError', () => {
  it.each(['', '   ', '$last +', '$last to', '($ts + 1d', 'day(', 'day($ts', '$', '$ts @', '$ts + 1d -'])('%j', (expr) => {
    expect(() => parseTimex(expr)).toThrow(TimexParserError);
    expect(() => parseTimex(expr)).toThrow(/^Unexpected end of expression/);
  });
});

describe('fix 2: a pinned range moved by its unit or more becomes a plain range', () => {
  it.each([
    ['day + 1d', '[2014-08-02 00:00:00, 2014-08-03 00:00:00)'],
    ['day - 1d', '[2014-07-31 00:00:00, 2014-08-01 00:00:00)'],
    ['day + 1mo', '[2014-09-01 00:00:00, 2014-09-02 00:00:00)'],
    ['day + 1d 1h', '[2014-08-02 01:00:00, 2014-08-03 01:00:00)'],
    ['hour + 1h', '[2014-08-01 03:00:00, 2014-08-01 04:00:00)'],
    ['month + 1mo', '[2014-09-01 00:00:00, 2014-10-01 00:00:00)'],
    ['year + 1y', '[2015-01-01 00:00:00, 2016-01-01 00:00:00)'],
    // `@` sets the year of both ends: the range becomes empty.
    ['year @ 2013y', '[2013-01-01 00:00:00, 2013-01-01 00:00:00)'],
    // Once unpinned, later shifts do not wrap either.
    ['day + 1d + 6h', '[2014-08-02 06:00:00, 2014-08-03 06:00:00)'],
  ])('%s', (expr, expected) => {
    const value = evaluate(expr, AT);
    expect(value).not.toBeInstanceOf(PinnedTimeRange);
    expect(value.kind).toBe('range');
    expect(show(value)).toBe(expected);
  });

  it('keeps wrapping for durations smaller than the unit, by the first unit written', () => {
    expect(show(evaluate('day + 23h 59m', AT))).toBe('day [2014-07-31 23:59:00, 2014-08-01 23:59:00) @ 2014-08-01 02:10:23.000550');
    // 25h is "smaller" than 1d: units are compared as written, not normalised.
    expect(evaluate('day + 25h', AT)).toBeInstanceOf(PinnedTimeRange);
    expect(evaluate('hour + 90', AT)).toBeInstanceOf(PinnedTimeRange);
  });
});

describe('fix 3: calendar overflow', () => {
  it.each([
    ['2015-01-31 10:00:00', '$t + 1mo', '2015-02-28 10:00:00'],
    ['2016-01-31 10:00:00', '$t + 1mo', '2016-02-29 10:00:00'],
    ['2015-03-31 00:00:00', '$t - 1mo', '2015-02-28 00:00:00'],
    ['2015-05-31 00:00:00', '$t - 3mo', '2015-02-28 00:00:00'],
    ['2016-02-29 12:00:00', '$t + 1y', '2017-02-28 12:00:00'],
    ['2016-02-29 12:00:00', '$t - 1y', '2015-02-28 12:00:00'],
    ['2016-02-29 12:00:00', '$t + 4y', '2020-02-29 12:00:00'],
    // Months and years move together and the day is clamped once, as relativedelta does.
    ['2015-01-29 00:00:00', '$t + 1mo 1y', '2016-02-29 00:00:00'],
    // The day..microsecond part comes first: 05-31 + 1d = 06-01, then + 1mo.
    ['2015-05-31 00:00:00', '$t + 1mo 1d', '2015-07-01 00:00:00'],
  ])('%s %s = %s', (t, expr, expected) => {
    expect(show(evaluate(expr, { t }))).toBe(expected);
  });

  it('clamps both ends of a range', () => {
    expect(show(evaluate('($a to $b) + 1mo', { a: '2015-01-30 00:00:00', b: '2015-03-31 00:00:00' }))).toBe(
      '[2015-02-28 00:00:00, 2015-04-30 00:00:00)',
    );
  });

  it.each([
    ['2015-01-15 08:30:00', '$t @ 25h'],
    ['2015-01-15 08:30:00', '$t @ 60m'],
    ['2015-01-15 08:30:00', '$t @ 0mo'],
    ['2015-01-15 08:30:00', '$t @ 13mo'],
    ['2015-01-15 08:30:00', '$t @ 0y'],
    ['2015-01-15 08:30:00', '$t @ 1000000us'],
    ['2015-02-14 08:30:00', '$t @ 31d'],
    ['2015-01-31 08:30:00', '$t @ 2mo'],
    ['2014-08-01 02:10:23', 'day @ 25h'],
    ['2014-08-01 02:10:23', 'month @ 31d'],
  ])('keeps `@` out of range an error, as TimexExpressionError: %s %s', (t, expr) => {
    const expression = parseTimex(expr);
    expect(() => expression.evaluate({ t: dt(t), timestamp: dt(t) })).toThrow(TimexExpressionError);
  });

  it.each([
    ['9999-06-01 00:00:00', '$t + 1y'],
    ['9999-12-31 23:00:00', '$t + 1h'],
    ['9999-12-31 23:59:59.999999', '$t + 1us'],
    ['0001-01-01 00:00:00', '$t - 1us'],
    ['0001-06-01 00:00:00', '$t - 6mo'],
    ['2015-01-15 00:00:00', '$t + 1000000000d'],
    ['9999-12-31 12:00:00', 'day($t)'],
    ['9999-06-01 12:00:00', 'year($t)'],
  ])('reports dates outside years 1..9999 as TimexExpressionError: %s %s', (t, expr) => {
    const expression = parseTimex(expr);
    expect(() => expression.evaluate({ t: dt(t), timestamp: dt(t) })).toThrow(TimexExpressionError);
  });

  it('reaches the calendar edges exactly', () => {
    expect(show(evaluate('$t + 1us', { t: '9999-12-31 23:59:59.999998' }))).toBe('9999-12-31 23:59:59.999999');
    expect(show(evaluate('$t - 1d', { t: '0001-01-02 00:00:00' }))).toBe('0001-01-01 00:00:00');
  });
});

describe('fix 4: a number followed by `<unit><digits>` splits after the unit', () => {
  const t = { t: '2015-01-15 08:30:00.000001' };
  it.each([
    ['$t + 1h30m', '$t + 1h 30m'],
    ['$t + 1h30m15s', '$t + 1h 30m 15s'],
    ['$t + 1mo5d', '$t + 1mo 5d'],
    ['$t + 1min5s', '$t + 1min 5s'],
    ['$t + 2hr5sec10us', '$t + 2hr 5sec 10us'],
    ['$t - 1y2mo3d4h5m6s7us', '$t - 1y 2mo 3d 4h 5m 6s 7us'],
  ])('%s = %s', (joined, spaced) => {
    expect(show(evaluate(joined, t))).toBe(show(evaluate(spaced, t)));
  });

  it('splits on ranges too, and the digits left over stay a unit-less number', () => {
    expect(show(evaluate('($a to $b) + 1d2', { a: '2015-02-01 00:00:00', b: '2015-02-03 00:00:00' }))).toBe(
      '[2015-02-02 02:00:00, 2015-02-04 02:00:00)',
    );
    expect(() => parseTimex('$t + 1h30')).toThrow(TimexParserError);
  });

  it.each(['$t + 1 h30m', '$t + 1h_30m', '$t + 1D', '$t + 1hh30m', '$t + 1x30m', '$t + 1H30m'])('does not split %j', (expr) => {
    expect(() => parseTimex(expr)).toThrow(TimexParserError);
  });

  it('leaves variable names alone', () => {
    expect(show(evaluate('$h30m + 1h', { h30m: '2015-01-15 08:30:00' }))).toBe('2015-01-15 09:30:00');
  });
});

describe('fix 5: any name after $ is a variable', () => {
  it.each(['d', 's', 'us', 'm', 'min', 'h', 'hr', 'mo', 'y', 'yr', 'sec', 'to'])('$%s', (name) => {
    const expression = parseTimex(`$${name} + 1d`);
    expect([...expression.variables]).toEqual([name]);
    expect(show(expression.evaluate({ [name]: dt('2015-01-15 08:30:00') }))).toBe('2015-01-16 08:30:00');
  });

  it('works with `to`, in function arguments and after whitespace', () => {
    const vars = { to: '2015-01-15 08:30:00', d: '2015-01-16 00:00:00' };
    expect(show(evaluate('$to to $d', vars))).toBe('[2015-01-15 08:30:00, 2015-01-16 00:00:00)');
    expect(show(evaluate('day($to)', vars))).toBe('day [2015-01-15 00:00:00, 2015-01-16 00:00:00) @ 2015-01-15 08:30:00');
    expect(show(evaluate('$ d', vars))).toBe('2015-01-16 00:00:00');
  });

  it('fails at evaluation, not parsing, when such a variable is unbound', () => {
    const expression = parseTimex('$d');
    expect(() => expression.evaluate({ timestamp: dt('2015-01-15 08:30:00') })).toThrow(new TimexExpressionError('Variable d not defined'));
  });

  it.each(['d', 'to', 'h($t)', 'mo + 1d', 'to($t)'])('still rejects the reserved word %j outside `$`', (expr) => {
    expect(() => parseTimex(expr)).toThrow(TimexParserError);
  });
});

