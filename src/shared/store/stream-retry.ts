/**
 * Retrying an errored stream (spec §4.6, upstream's reset_stream, `PUT /v1/streams/{id}`):
 * error → retry_fire, expire_error → retry_expire; other states are left alone. The attempt
 * count starts again. Returns the new state, or null if the stream was not in an error state.
 */
import type { Queryable } from '../db/sql.js';
import { StreamState, type StreamStateName } from './stream-states.js';

export async function retryStream(conn: Queryable, streamId: number): Promise<StreamStateName | null> {
  const [result] = await conn.query(
    `UPDATE stream SET state = IF(state = ${StreamState.error}, ${StreamState.retry_fire}, ${StreamState.retry_expire}), attempts = 0, retry_after = NULL
      WHERE id = ? AND state IN (${StreamState.error}, ${StreamState.expire_error})`,
    [streamId],
  );
  if ((result as { affectedRows: number }).affectedRows === 0) return null;
  const [rows] = await conn.query('SELECT state FROM stream WHERE id = ?', [streamId]);
  return (rows as { state: number }[])[0]!.state === StreamState.retry_fire ? 'retry_fire' : 'retry_expire';
}
