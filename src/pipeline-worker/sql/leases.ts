/**
 * The lease family of statements (invariants 5 and 12). A worker holds each stream it claimed
 * with a lease in database time (lease_owner, lease_expires): it renews the lease of every
 * stream it still holds while it works on them, and any worker returns streams whose lease ran
 * out (their worker died or stalled) for retry.
 */
import type { Queryable } from '../../shared/db/sql.js';
import { StreamState } from '../../shared/store/stream-states.js';

const HELD = `state IN (${StreamState.firing}, ${StreamState.expiring})`;

/**
 * Pushes the leases of `ids` that `owner` still holds to now + leaseSeconds. Returns the ids
 * it still holds (the others were reaped and perhaps taken by another worker).
 */
export async function renewLeases(conn: Queryable, ids: readonly number[], owner: string, leaseSeconds: number): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const [result] = await conn.query(`UPDATE stream SET lease_expires = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE id IN (?) AND lease_owner = ? AND ${HELD}`, [leaseSeconds, ids, owner]);
  if ((result as { affectedRows: number }).affectedRows === ids.length) return new Set(ids);
  const [rows] = await conn.query(`SELECT id FROM stream WHERE id IN (?) AND lease_owner = ? AND ${HELD}`, [ids, owner]);
  return new Set((rows as { id: number }[]).map((r) => r.id));
}

/**
 * Streams whose lease ran out go back to retry_fire / retry_expire, or to error / expire_error
 * once they used up maxAttempts. Any worker may run it. Returns how many.
 */
export async function reapExpiredLeases(conn: Queryable, maxAttempts: number): Promise<number> {
  const [result] = await conn.query(
    `UPDATE stream SET
        last_error = CONCAT('lease of ', COALESCE(lease_owner, '?'), ' expired during attempt ', attempts, ' (worker died or stalled)'),
        state = CASE WHEN state = ${StreamState.firing} THEN IF(attempts >= ?, ${StreamState.error}, ${StreamState.retry_fire})
                     ELSE IF(attempts >= ?, ${StreamState.expire_error}, ${StreamState.retry_expire}) END,
        lease_owner = NULL, lease_expires = NULL
      WHERE ${HELD} AND lease_expires < UTC_TIMESTAMP(6)`,
    [maxAttempts, maxAttempts],
  );
  return (result as { affectedRows: number }).affectedRows;
}
