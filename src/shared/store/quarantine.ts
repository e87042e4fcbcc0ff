/**
 * The quarantine (invariant 6): messages that can never become events, kept with their raw
 * bytes, their AMQP properties (those that read them again, and the rest for tracing), and the reason.
 *
 * The insert must not fail because of the message's content (invariant 11: a failure here is
 * the database's, and nothing is acked): the reason is cut to REASON_MAX_CHARS, message_id
 * and event_type to 255 characters with unpaired surrogates replaced, and the body is stored
 * as bytes, up to BODY_LIMIT_BYTES (the full size is kept in body_size).
 */
import { insertRows, type Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';

export interface QuarantineEntry {
  readonly cell: string;
  readonly queue: string;
  readonly reason: string;
  readonly body: Buffer;
  readonly messageId?: string | undefined;
  readonly eventType?: string | undefined;
  /** The delivery's AMQP properties that are set (content encoding and headers read the body again). */
  readonly properties?: Readonly<Record<string, unknown>> | undefined;
}

export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;
export const REASON_MAX_CHARS = 2000;
const ID_MAX_CHARS = 255;

/** Inserts quarantine rows in the caller's transaction. Throws only database errors. */
export async function insertQuarantine(conn: Queryable, entries: readonly QuarantineEntry[], receivedAt = DateTime.now()): Promise<void> {
  if (entries.length === 0) return;
  await insertRows(
    conn,
    'INSERT INTO quarantine (received_at, cell, queue, reason, message_id, event_type, body, body_size, body_truncated, properties) VALUES',
    entries.map((q) => {
      const body = q.body.length > BODY_LIMIT_BYTES ? q.body.subarray(0, BODY_LIMIT_BYTES) : q.body;
      return [
        receivedAt.toSql(),
        clip(q.cell, 100),
        clip(q.queue, 255),
        clip(q.reason, REASON_MAX_CHARS),
        q.messageId === undefined ? null : clip(q.messageId, ID_MAX_CHARS),
        q.eventType === undefined ? null : clip(q.eventType, ID_MAX_CHARS),
        body,
        q.body.length,
        body.length < q.body.length ? 1 : 0,
        q.properties === undefined ? null : clip(JSON.stringify(q.properties), 60_000),
      ];
    }),
  );
}

/** At most `max` characters, never ending in half a surrogate pair, unpaired surrogates replaced. */
export function clip(text: string, max: number): string {
  let s = text.length > max ? text.slice(0, max) : text;
  if (s.length > 0 && s.length < text.length && isHighSurrogate(s.charCodeAt(s.length - 1))) s = s.slice(0, -1);
  return s.toWellFormed();
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
