/**
 * Loads the events of claimed streams, each stream's in timestamp order (spec §4.5), with one
 * query for the whole batch. The join starts from streamevent (STRAIGHT_JOIN: the optimizer
 * otherwise starts from the tiny event_type table and scans every event), and the sorting is
 * done here: an ORDER BY over rows carrying the trait documents makes MariaDB build an on-disk
 * temporary table, five times slower.
 */
import type { Queryable } from '../db/sql.js';
import { decodeTraits } from './trait-codec.js';
import type { Event } from '../event.js';
import { DateTime } from '../time.js';

export async function loadStreamEvents(pool: Queryable, streamIds: readonly number[]): Promise<Map<number, Event[]>> {
  const rowsByStream = new Map<number, { id: number; event: Event }[]>(streamIds.map((id) => [id, []]));
  if (streamIds.length === 0) return new Map();
  const [rows] = await pool.query(
    `SELECT STRAIGHT_JOIN se.stream_id, e.id, e.message_id, t.\`desc\` AS event_type, e.generated, e.traits
       FROM streamevent se JOIN event e ON e.id = se.event_id JOIN event_type t ON t.id = e.event_type_id
      WHERE se.stream_id IN (?)`,
    [streamIds],
  );
  for (const r of rows as { stream_id: number; id: number; message_id: string; event_type: string; generated: string; traits: string }[]) {
    rowsByStream.get(r.stream_id)!.push({ id: r.id, event: { messageId: r.message_id, eventType: r.event_type, timestamp: DateTime.parse(r.generated), traits: decodeTraits(r.traits) } });
  }
  const out = new Map<number, Event[]>();
  for (const [streamId, list] of rowsByStream) {
    list.sort((a, b) => a.event.timestamp.compare(b.event.timestamp) || a.id - b.id);
    out.set(streamId, list.map((x) => x.event));
  }
  return out;
}
