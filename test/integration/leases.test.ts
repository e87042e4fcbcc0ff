/**
 * Leases (invariant 5): a claimed stream whose worker died is released when its lease runs out,
 * back to retry_* while attempts remain, to error / expire_error after pipeline_max_attempts;
 * never left firing or expiring.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reapExpiredLeases } from '../../src/pipeline-worker/sql/leases.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(async () => {
  await db.close();
});

async function claimed(state: number, attempts: number, leaseOffsetSeconds: number): Promise<number> {
  const [result] = await db.pool.query(
    `INSERT INTO stream (name, state, first_event, last_event, expire_timestamp, fire_timestamp, distinguishing_key, fire_counts, attempts, lease_owner, lease_expires)
     VALUES ('t', ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), '[]', '[]', ?, 'host/w0/123', UTC_TIMESTAMP(6) + INTERVAL ? SECOND)`,
    [state, attempts, leaseOffsetSeconds],
  );
  return (result as { insertId: number }).insertId;
}

describe('lease expiry', () => {
  it('returns dead workers\' streams for retry, errors them after the last attempt, leaves live leases alone', async () => {
    const firing = await claimed(StreamState.firing, 1, -5);
    const expiring = await claimed(StreamState.expiring, 2, -5);
    const exhausted = await claimed(StreamState.firing, 3, -5);
    const exhaustedExpiry = await claimed(StreamState.expiring, 3, -5);
    const live = await claimed(StreamState.firing, 1, 60);
    expect(await reapExpiredLeases(db.pool, 3)).toBe(4);
    const [rows] = await db.pool.query('SELECT id, state, lease_owner, last_error FROM stream ORDER BY id');
    const byId = new Map((rows as { id: number; state: number; lease_owner: string | null; last_error: string | null }[]).map((r) => [r.id, r]));
    expect(byId.get(firing)).toMatchObject({ state: StreamState.retry_fire, lease_owner: null, last_error: 'lease of host/w0/123 expired during attempt 1 (worker died or stalled)' });
    expect(byId.get(expiring)).toMatchObject({ state: StreamState.retry_expire, lease_owner: null });
    expect(byId.get(exhausted)).toMatchObject({ state: StreamState.error, last_error: 'lease of host/w0/123 expired during attempt 3 (worker died or stalled)' });
    expect(byId.get(exhaustedExpiry)).toMatchObject({ state: StreamState.expire_error });
    expect(byId.get(live)).toMatchObject({ state: StreamState.firing, lease_owner: 'host/w0/123', last_error: null });
    expect(await reapExpiredLeases(db.pool, 3)).toBe(0);
  });
});
