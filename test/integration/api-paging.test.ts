/**
 * Paging through 2,500 streams (and events) with `_mark` returns each row exactly once, in
 * order, in both directions and with any page size; the CLI client's `all()` does the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startApi, type RunningApi } from '../helpers/api.js';

const STREAMS = 2500;
let db: TestDatabase;
let api: RunningApi;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await db.pool.query(
    `INSERT INTO stream (name, state, first_event, last_event, expire_timestamp, distinguishing_key, fire_counts)
     SELECT CONCAT('trigger_', seq % 3), 1 + seq % 8, '2015-02-01 00:00:00.000001' + INTERVAL seq SECOND, '2015-02-02 00:00:00' + INTERVAL seq SECOND, '2015-02-03', CONCAT('k', seq), '[]'
       FROM seq_1_to_${STREAMS}`,
  );
  api = await startApi(db);
});
afterAll(async () => {
  await api.close();
  await db.close();
});

async function pageAll(query: string, limit: number, firstMark: string): Promise<{ ids: number[]; pages: number }> {
  const ids: number[] = [];
  let mark = firstMark;
  let pages = 0;
  for (;;) {
    const res = await fetch(`${api.url}/v1/streams?${query}&limit=${limit}&mark=${encodeURIComponent(mark)}`);
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { id: number; _mark: string }[];
    pages++;
    ids.push(...rows.map((r) => r.id));
    if (rows.length < limit) return { ids, pages };
    mark = rows[rows.length - 1]!._mark;
  }
}

describe('paging', () => {
  it('returns each of 2,500 streams exactly once, newest first, whatever the page size', async () => {
    const expected = Array.from({ length: STREAMS }, (_, i) => STREAMS - i);
    for (const limit of [1000, 200, 7]) {
      const { ids, pages } = await pageAll('', limit, '-');
      expect(ids).toEqual(expected);
      expect(pages).toBe(Math.floor(STREAMS / limit) + 1);
    }
  });

  it('pages oldest first from +, and with a filter', async () => {
    expect((await pageAll('', 300, '+')).ids).toEqual(Array.from({ length: STREAMS }, (_, i) => i + 1));
    const errored = (await pageAll('state=error', 50, '')).ids;
    expect(errored).toEqual(Array.from({ length: STREAMS }, (_, i) => STREAMS - i).filter((id) => (1 + (id % 8)) === 4));
    const [{ count }] = (await (await fetch(`${api.url}/v1/streams/count?state=error`)).json()) as [{ count: number }];
    expect(errored).toHaveLength(count);
  });

  it('the client library follows the marks too', async () => {
    const seen: number[] = [];
    for await (const s of api.client.all((p) => api.client.streams({ ...p, triggerName: 'trigger_1' }), 333)) seen.push(s.id);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(Array.from({ length: STREAMS }, (_, i) => STREAMS - i).filter((id) => id % 3 === 1));
  });
});
