/**
 * Loads the events of claimed streams, each stream's in timestamp order (spec §4.5), with one
 * query for the whole batch.
 */
import type { Pool } from 'mysql2/promise';
import { decodeTraits } from '../../shared/db/trait-codec.js';
import type { Event } from '../../shared/event.js';
import { DateTime } from '../../shared/time.js';

export async function loadStreamEvents(pool: Pool, streamIds: readonly number[]): Promise<Map<number, Event[]>> {
  const out = new Map<number, Event[]>(streamIds.map((id) => [id, []]));
  if (streamIds.length === 0) return out;
  const [rows] = await pool.query(
    `SELECT se.stream_id, e.message_id, t.\`desc\` AS event_type, e.generated, e.traits
       FROM streamevent se JOIN event e ON e.id = se.event_id JOIN event_type t ON t.id = e.event_type_id
      WHERE se.stream_id IN (?) ORDER BY se.stream_id, e.generated, e.id`,
    [streamIds],
  );
  for (const r of rows as { stream_id: number; message_id: string; event_type: string; generated: string; traits: string }[]) {
    out.get(r.stream_id)!.push({ messageId: r.message_id, eventType: r.event_type, timestamp: DateTime.parse(r.generated), traits: decodeTraits(r.traits) });
  }
  return out;
}
