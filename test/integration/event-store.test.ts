/**
 * Values survive storage exactly (invariants 8 and 9): microsecond datetimes, 64-bit integers,
 * double-precision floats, long strings, in event.traits and in the typed trait table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventTypeIds, insertEvents } from '../../src/shared/store/events.js';
import { decodeTraits } from '../../src/shared/store/trait-codec.js';
import type { Event } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(async () => {
  await db.close();
});

describe('event store', () => {
  it('keeps µs datetimes, BIGINT ints, DOUBLE floats and long strings exactly, in both places', async () => {
    const traits = {
      big: 9_007_199_254_740_993n, // 2^53 + 1: not representable as a JS number
      negative: -(2n ** 63n),
      tiny: 0.1 + 0.2,
      huge: 1.7976931348623157e308,
      nan: Number.NaN,
      long: 'x'.repeat(5000) + 'é✓',
      when: DateTime.parse('2015-02-27 15:27:18.000001'),
      ancient: DateTime.parse('0001-01-01 00:00:00.000001'),
    };
    const event: Event = { messageId: 'exact-1', eventType: 'test.exact', timestamp: DateTime.parse('2015-02-27 15:27:18.999999'), traits };
    const typeIds = await new EventTypeIds(db.pool).resolve([event.eventType]);
    const indexed = new Set(Object.keys(traits));
    const { stored } = await insertEvents(db.pool, [event], typeIds, indexed);
    expect(stored).toHaveLength(1);

    const [rows] = await db.pool.query('SELECT generated, traits FROM event WHERE message_id = ?', ['exact-1']);
    const row = (rows as { generated: string; traits: string }[])[0]!;
    expect(row.generated).toBe('2015-02-27 15:27:18.999999');
    const back = decodeTraits(row.traits);
    expect(back['big']).toBe(traits.big);
    expect(back['negative']).toBe(traits.negative);
    expect(back['tiny']).toBe(0.30000000000000004);
    expect(back['huge']).toBe(traits.huge);
    expect(back['nan']).toBeNaN();
    expect(back['long']).toBe(traits.long);
    expect((back['when'] as DateTime).toSql()).toBe('2015-02-27 15:27:18.000001');
    expect((back['ancient'] as DateTime).toSql()).toBe('0001-01-01 00:00:00.000001');

    const [typed] = await db.pool.query('SELECT name, type, t_string, CAST(t_int AS CHAR) AS t_int, t_float, t_datetime FROM trait ORDER BY name');
    expect(typed).toEqual([
      { name: 'ancient', type: 4, t_string: null, t_int: null, t_float: null, t_datetime: '0001-01-01 00:00:00.000001' },
      { name: 'big', type: 2, t_string: null, t_int: '9007199254740993', t_float: null, t_datetime: null },
      { name: 'huge', type: 3, t_string: null, t_int: null, t_float: 1.7976931348623157e308, t_datetime: null },
      { name: 'long', type: 1, t_string: traits.long, t_int: null, t_float: null, t_datetime: null },
      { name: 'nan', type: 3, t_string: null, t_int: null, t_float: null, t_datetime: null },
      { name: 'negative', type: 2, t_string: null, t_int: '-9223372036854775808', t_float: null, t_datetime: null },
      { name: 'tiny', type: 3, t_string: null, t_int: null, t_float: 0.30000000000000004, t_datetime: null },
      { name: 'when', type: 4, t_string: null, t_int: null, t_float: null, t_datetime: '2015-02-27 15:27:18.000001' },
    ]);
  });
});
