/**
 * A canary write: the statements ingest runs (event type, event, indexed trait, stream with its
 * row lock, distinguishing trait, stream/event link, quarantine row) with synthetic values,
 * always rolled back. When a message fails alone with an error that is not plainly its
 * content's (invariant 11), this tells the two cases apart: the canary fails too → the
 * database refuses writes (grants, disk, read-only, schema) and nobody's message is to blame;
 * the canary succeeds → the failure is specific to that message.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { DateTime } from '../time.js';

/** null when every write succeeded (and was rolled back), else the error. Never throws. */
export async function probeWrites(pool: Pool): Promise<unknown> {
  let conn: PoolConnection | undefined;
  try {
    conn = await pool.getConnection();
    await conn.beginTransaction();
    const now = DateTime.now().toSql();
    const id = `stv3-canary-${randomUUID()}`;
    const [type] = await conn.query('INSERT INTO event_type (`desc`) VALUES (?)', [id]);
    const typeId = (type as { insertId: number }).insertId;
    const [event] = await conn.query('INSERT INTO event (message_id, generated, event_type_id, traits) VALUES (?, ?, ?, ?)', [id, now, typeId, '{}']);
    const eventId = (event as { insertId: number }).insertId;
    await conn.query('INSERT INTO trait (event_id, name, type, t_string) VALUES (?, ?, 1, ?)', [eventId, 'canary', id]);
    const openKey = randomBytes(32);
    const [stream] = await conn.query(
      "INSERT INTO stream (name, state, state_serial_no, first_event, last_event, expire_timestamp, distinguishing_key, open_key, fire_counts, event_count) VALUES (?, 1, 0, ?, ?, ?, '[]', ?, '[]', 1)",
      [id, now, now, now, openKey],
    );
    const streamId = (stream as { insertId: number }).insertId;
    await conn.query('SELECT id FROM stream WHERE open_key = ? FOR UPDATE', [openKey]);
    await conn.query('UPDATE stream SET event_count = 2 WHERE id = ?', [streamId]);
    await conn.query('INSERT INTO dist_trait (stream_id, name, type, dt_string) VALUES (?, ?, 1, ?)', [streamId, 'canary', id]);
    await conn.query('INSERT INTO streamevent (stream_id, event_id) VALUES (?, ?)', [streamId, eventId]);
    await conn.query("INSERT INTO quarantine (received_at, cell, queue, reason, body, body_size) VALUES (?, 'canary', 'canary', 'canary', ?, 0)", [now, Buffer.alloc(0)]);
    await conn.rollback();
    conn.release();
    return null;
  } catch (err) {
    if (conn) {
      await conn.rollback().catch(() => undefined);
      conn.destroy();
    }
    return err;
  }
}
