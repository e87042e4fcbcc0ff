/**
 * Claiming due streams (spec §4.5, with leases for §10.7).
 *
 * A stream is due to fire when it is active or retry_fire and fire_timestamp ≤ now; to expire
 * when it is active or retry_expire and expire_timestamp ≤ now, unless it is also due to fire
 * (firing wins, as upstream's fire pass ran first). Claiming moves it to firing / expiring,
 * clears open_key (ingest can no longer append: §10.2), counts the attempt and takes a lease
 * in database time, so worker clocks do not matter.
 *
 * Two strategies, both safe for any number of workers on any number of hosts:
 *  - `skip_locked` (default): one transaction, SELECT … FOR UPDATE SKIP LOCKED, then one UPDATE
 *    for the batch. Workers never wait on each other nor on an ingest transaction holding a
 *    stream; a locked stream is simply taken next time.
 *  - `serial`: upstream's optimistic protocol: read candidates without locks, then one
 *    `UPDATE … WHERE id = ? AND state_serial_no = ?` per stream; a lost race changes no row.
 * bench/pipeline.ts measures both.
 */
import type { Pool } from 'mysql2/promise';
import { withTransaction } from '../../shared/db/sql.js';
import { StreamState } from '../../shared/store/stream-states.js';
import type { DateTime } from '../../shared/time.js';

export type ClaimKind = 'fire' | 'expire';
export type ClaimStrategy = 'skip_locked' | 'serial';

export interface ClaimedStream {
  readonly id: number;
  readonly name: string;
  readonly kind: ClaimKind;
  /** Including this one. */
  readonly attempts: number;
}

export interface ClaimRequest {
  readonly kind: ClaimKind;
  readonly now: DateTime;
  readonly limit: number;
  readonly owner: string;
  readonly leaseSeconds: number;
  readonly strategy: ClaimStrategy;
}

/**
 * Due streams of one state. One state per query, so that MariaDB walks the (state, timestamp)
 * index in order and stops after `limit` rows; `state IN (…) ORDER BY …` made it sort every due
 * stream on each claim, which grew with the backlog.
 */
function dueCondition(kind: ClaimKind, state: number): string {
  return kind === 'fire'
    ? `state = ${state} AND fire_timestamp <= ?`
    : `state = ${state} AND expire_timestamp <= ?${state === StreamState.active ? ' AND (fire_timestamp IS NULL OR fire_timestamp > ?)' : ''}`;
}

function dueParams(kind: ClaimKind, state: number, now: DateTime): string[] {
  return kind === 'expire' && state === StreamState.active ? [now.toSql(), now.toSql()] : [now.toSql()];
}

/** Retries first, then the rest. */
function dueStates(kind: ClaimKind): number[] {
  return kind === 'fire' ? [StreamState.retry_fire, StreamState.active] : [StreamState.retry_expire, StreamState.active];
}

function orderColumn(kind: ClaimKind): string {
  return kind === 'fire' ? 'fire_timestamp' : 'expire_timestamp';
}

const NOT_DELAYED = '(retry_after IS NULL OR retry_after <= UTC_TIMESTAMP(6))';

export async function claimDueStreams(pool: Pool, req: ClaimRequest): Promise<{ claimed: ClaimedStream[]; lostRaces: number }> {
  return req.strategy === 'serial' ? claimSerial(pool, req) : claimSkipLocked(pool, req);
}

function claimUpdate(kind: ClaimKind): string {
  return `UPDATE stream SET state = ${kind === 'fire' ? StreamState.firing : StreamState.expiring}, open_key = NULL, state_serial_no = state_serial_no + 1,
            attempts = attempts + 1, lease_owner = ?, lease_expires = UTC_TIMESTAMP(6) + INTERVAL ? SECOND, retry_after = NULL`;
}

async function claimSkipLocked(pool: Pool, req: ClaimRequest): Promise<{ claimed: ClaimedStream[]; lostRaces: number }> {
  const claimed = await withTransaction(pool, async (conn) => {
    const due: { id: number; name: string; attempts: number }[] = [];
    for (const state of dueStates(req.kind)) {
      if (due.length >= req.limit) break;
      const [rows] = await conn.query(
        `SELECT id, name, attempts FROM stream WHERE ${dueCondition(req.kind, state)} AND ${NOT_DELAYED}
          ORDER BY ${orderColumn(req.kind)} LIMIT ? FOR UPDATE SKIP LOCKED`,
        [...dueParams(req.kind, state, req.now), req.limit - due.length],
      );
      due.push(...(rows as typeof due));
    }
    if (due.length === 0) return [];
    await conn.query(`${claimUpdate(req.kind)} WHERE id IN (?)`, [req.owner, req.leaseSeconds, due.map((r) => r.id)]);
    return due.map((r) => ({ id: r.id, name: r.name, kind: req.kind, attempts: r.attempts + 1 }));
  });
  return { claimed, lostRaces: 0 };
}

async function claimSerial(pool: Pool, req: ClaimRequest): Promise<{ claimed: ClaimedStream[]; lostRaces: number }> {
  const candidates: { id: number; name: string; attempts: number; state: number; state_serial_no: number }[] = [];
  for (const state of dueStates(req.kind)) {
    if (candidates.length >= req.limit) break;
    const [rows] = await pool.query(`SELECT id, name, attempts, state, state_serial_no FROM stream WHERE ${dueCondition(req.kind, state)} AND ${NOT_DELAYED} ORDER BY ${orderColumn(req.kind)} LIMIT ?`, [
      ...dueParams(req.kind, state, req.now),
      req.limit - candidates.length,
    ]);
    candidates.push(...(rows as typeof candidates));
  }
  // Upstream shuffled candidates to spread workers over different streams.
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
  }
  const claimed: ClaimedStream[] = [];
  let lostRaces = 0;
  for (const c of candidates) {
    const [result] = await pool.query(`${claimUpdate(req.kind)} WHERE id = ? AND state_serial_no = ? AND ${dueCondition(req.kind, c.state)}`, [
      req.owner,
      req.leaseSeconds,
      c.id,
      c.state_serial_no,
      ...dueParams(req.kind, c.state, req.now),
    ]);
    if ((result as { affectedRows: number }).affectedRows === 1) claimed.push({ id: c.id, name: c.name, kind: req.kind, attempts: c.attempts + 1 });
    else lostRaces++;
  }
  return { claimed, lostRaces };
}
