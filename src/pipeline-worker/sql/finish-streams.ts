/**
 * Recording pipeline outcomes, in one transaction per batch of claimed streams: the events the
 * handlers created (stored and filed into streams exactly as ingested ones, spec §4.5), and each
 * stream's new state. Only streams this worker still holds are touched: if a lease ran out and
 * another worker took the stream over, this run's results are dropped (the other run's count).
 */
import { StreamState } from '../../shared/store/stream-states.js';
import type { Queryable } from '../../shared/db/sql.js';
import { storeEvents, type PreparedEvent, type StoreResult } from '../../shared/store/batch.js';
import type { ClaimedStream } from './claim-streams.js';

export type Outcome =
  | { readonly stream: ClaimedStream; readonly ok: true; readonly newEvents: readonly PreparedEvent[] }
  | { readonly stream: ClaimedStream; readonly ok: false; readonly error: string; readonly retryAfterSeconds: number | null };

export interface FinishOptions {
  readonly owner: string;
  readonly purgeCompleted: boolean;
  readonly typeIds: ReadonlyMap<string, number>;
  readonly indexedTraits: ReadonlySet<string>;
}

export interface FinishResult {
  /** Streams whose outcome was recorded. */
  readonly recorded: readonly Outcome[];
  /** Streams no longer ours (lease lost): nothing recorded. */
  readonly lost: readonly ClaimedStream[];
  readonly store: StoreResult | null;
}

export async function finishStreams(conn: Queryable, outcomes: readonly Outcome[], opts: FinishOptions): Promise<FinishResult> {
  if (outcomes.length === 0) return { recorded: [], lost: [], store: null };
  const [rows] = await conn.query(`SELECT id FROM stream WHERE id IN (?) AND lease_owner = ? AND state IN (${StreamState.firing}, ${StreamState.expiring}) FOR UPDATE`, [
    outcomes.map((o) => o.stream.id),
    opts.owner,
  ]);
  const owned = new Set((rows as { id: number }[]).map((r) => r.id));
  const recorded = outcomes.filter((o) => owned.has(o.stream.id));
  const lost = outcomes.filter((o) => !owned.has(o.stream.id)).map((o) => o.stream);

  const ok = recorded.filter((o): o is Extract<Outcome, { ok: true }> => o.ok);
  const newEvents = ok.flatMap((o) => o.newEvents);
  const store = newEvents.length > 0 ? await storeEvents(conn, newEvents, opts.typeIds, opts.indexedTraits) : null;
  if (ok.length > 0) {
    const ids = ok.map((o) => o.stream.id);
    if (opts.purgeCompleted) await conn.query('DELETE FROM stream WHERE id IN (?)', [ids]);
    else await conn.query(`UPDATE stream SET state = ${StreamState.completed}, lease_owner = NULL, lease_expires = NULL, last_error = NULL WHERE id IN (?)`, [ids]);
  }
  for (const o of recorded) {
    if (o.ok) continue;
    const fire = o.stream.kind === 'fire';
    const state = o.retryAfterSeconds === null ? (fire ? StreamState.error : StreamState.expire_error) : fire ? StreamState.retry_fire : StreamState.retry_expire;
    await conn.query(
      `UPDATE stream SET state = ?, last_error = ?, lease_owner = NULL, lease_expires = NULL,
              retry_after = IF(? IS NULL, NULL, UTC_TIMESTAMP(6) + INTERVAL ? SECOND) WHERE id = ?`,
      [state, o.error, o.retryAfterSeconds, o.retryAfterSeconds ?? 0, o.stream.id],
    );
  }
  return { recorded, lost, store };
}

/** Gives streams back unprocessed (shutdown): they are claimed again, this attempt not counted. */
export async function releaseStreams(conn: Queryable, streams: readonly ClaimedStream[], owner: string): Promise<void> {
  if (streams.length === 0) return;
  await conn.query(
    `UPDATE stream SET state = IF(state = ${StreamState.firing}, ${StreamState.retry_fire}, ${StreamState.retry_expire}),
            lease_owner = NULL, lease_expires = NULL, attempts = GREATEST(attempts - 1, 0)
      WHERE id IN (?) AND lease_owner = ? AND state IN (${StreamState.firing}, ${StreamState.expiring})`,
    [streams.map((s) => s.id), owner],
  );
}
