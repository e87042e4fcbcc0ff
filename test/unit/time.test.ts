import { afterEach, describe, expect, it, vi } from 'vitest';
import { DateTime } from '../../src/shared/time.js';

describe('DateTime', () => {
  it('keeps microseconds through SQL and Python formats', () => {
    const t = DateTime.parse('2015-02-27 15:27:18.603932');
    expect(t.toSql()).toBe('2015-02-27 15:27:18.603932');
    expect(t.toString()).toBe('2015-02-27 15:27:18.603932');
    expect(t.toIsoformat()).toBe('2015-02-27T15:27:18.603932');
    expect(t.plusMicros(1).micro).toBe(603933);
  });

  it('omits a zero fraction like Python str() and isoformat()', () => {
    const t = DateTime.of(2015, 2, 1);
    expect(t.toString()).toBe('2015-02-01 00:00:00');
    expect(t.toIsoformat()).toBe('2015-02-01T00:00:00');
    expect(t.toSql()).toBe('2015-02-01 00:00:00.000000');
  });

  it('is exact for years far from 1970 and round-trips fields', () => {
    for (const s of ['0001-01-01 00:00:00.000001', '9999-12-31 23:59:59.999999', '2000-02-29 12:00:00.5', '1900-03-01 00:00:00']) {
      const t = DateTime.parse(s);
      expect(DateTime.fromFields(t.fields).equals(t)).toBe(true);
      expect(DateTime.parse(t.toSql()).equals(t)).toBe(true);
    }
  });

  it('rejects impossible dates as Python does', () => {
    expect(() => DateTime.of(2015, 2, 29)).toThrow(RangeError);
    expect(() => DateTime.of(2015, 1, 31).with({ month: 2 })).toThrow(RangeError);
    expect(() => DateTime.parse('2015-02-27T15:27:18,5')).toThrow(RangeError);
  });

  it('carries microseconds across seconds and days, both ways', () => {
    const t = DateTime.of(2014, 12, 31, 23, 59, 59, 999_999);
    expect(t.plusMicros(1).toString()).toBe('2015-01-01 00:00:00');
    expect(DateTime.of(2015, 1, 1).plusMicros(-1).toSql()).toBe('2014-12-31 23:59:59.999999');
    expect(t.plusMicros(1).diffMicros(t)).toBe(1);
    expect(t.startOfDay().toString()).toBe('2014-12-31 00:00:00');
  });
});

describe('DateTime.now follows the system clock', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keeps microseconds and stays within the wall clock millisecond', () => {
    const before = Date.now();
    const now = DateTime.now();
    const after = Date.now();
    const ms = now.epochSeconds * 1000 + now.micro / 1000;
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThan(after + 1);
  });

  it('a clock set forward or back (an NTP step, a VM resumed) is followed at once, not only by processes started after it', () => {
    const real = Date.now.bind(Date);
    const step = { ms: 0 };
    vi.spyOn(Date, 'now').mockImplementation(() => real() + step.ms);
    for (const ms of [13_738, -3_600_000, 0]) {
      step.ms = ms;
      const expected = real() + ms;
      const now = DateTime.now();
      const got = now.epochSeconds * 1000 + now.micro / 1000;
      expect(Math.abs(got - expected)).toBeLessThan(5);
    }
  });
});
