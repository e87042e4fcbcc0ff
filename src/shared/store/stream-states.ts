/**
 * Stream states and their integer codes, as upstream stores them (spec §4.6).
 *
 *   active ──(fire_timestamp ≤ now, claimed)──► firing ──ok──► completed (or deleted: purge)
 *     │                                           └─fail──► error ──(retry)──► retry_fire ──► firing
 *     └──(expire_timestamp ≤ now, claimed)──► expiring ──ok──► completed (or deleted)
 *                                                 └─fail──► expire_error ──(retry)──► retry_expire ──► expiring
 *
 * Ingest appends only to an active stream whose open_key is set; claiming clears open_key in
 * the same statement, so nothing is appended to a stream whose events were loaded (§10.2).
 */
export const StreamState = {
  active: 1,
  firing: 2,
  expiring: 3,
  error: 4,
  expire_error: 5,
  completed: 6,
  retry_fire: 7,
  retry_expire: 8,
} as const;

export type StreamStateName = keyof typeof StreamState;
export type StreamStateCode = (typeof StreamState)[StreamStateName];

const NAMES = Object.fromEntries(Object.entries(StreamState).map(([k, v]) => [v, k])) as Record<number, StreamStateName>;

export function stateName(code: number): StreamStateName {
  const name = NAMES[code];
  if (!name) throw new RangeError(`unknown stream state code ${code}`);
  return name;
}
