/**
 * Reading and working off the quarantine (invariant 6: poison is visible through the API and
 * CLI): list with `_mark` paging, count, one entry with its body, delete, and the row locking a
 * replay needs (quarantine.ts writes the rows).
 *
 * Filters: cell (exact), received_at range (from exclusive, to inclusive, as the event
 * routes). The list walks the primary key or ix_quarantine_received_at; the quarantine is
 * small next to the event table.
 */
import type { RowDataPacket } from 'mysql2';
import type { Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';
import { pageSql, type Page } from './query-terms.js';
import { clip, REASON_MAX_CHARS } from './quarantine.js';

export interface QuarantineQuery {
  readonly cell?: string | undefined;
  readonly from?: DateTime | undefined;
  readonly to?: DateTime | undefined;
}

export interface QuarantineSummary {
  readonly id: number;
  readonly receivedAt: DateTime;
  readonly cell: string;
  readonly queue: string;
  readonly reason: string;
  readonly messageId: string | null;
  readonly eventType: string | null;
  /** Size of the message as received, bytes. */
  readonly bodySize: number;
  /** Only the first BODY_LIMIT_BYTES were kept. */
  readonly bodyTruncated: boolean;
}

export interface QuarantineEntryRecord extends QuarantineSummary {
  readonly body: Buffer;
  /** The AMQP properties kept with the body (content encoding and headers read it again), or null. */
  readonly properties: Record<string, unknown> | null;
}

const SUMMARY_COLUMNS = 'id, received_at, cell, queue, reason, message_id, event_type, body_size, body_truncated';

/** One page of quarantined messages, without their bodies. */
export async function listQuarantine(db: Queryable, query: QuarantineQuery, page: Page): Promise<QuarantineSummary[]> {
  const { where, params } = conditions(query, page);
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${SUMMARY_COLUMNS} FROM quarantine ${where} ${pageSql('id', page).orderBy} LIMIT ?`, [...params, page.limit]);
  return rows.map(summary);
}

/** How many quarantined messages match (the mark applies, no limit). */
export async function countQuarantine(db: Queryable, query: QuarantineQuery, page: Pick<Page, 'direction' | 'after'>): Promise<number> {
  const { where, params } = conditions(query, page);
  const [rows] = await db.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM quarantine ${where}`, params);
  return Number(rows[0]!['n']);
}

/** One entry with its body; `forUpdate` locks the row for the caller's transaction (replay). */
export async function getQuarantined(db: Queryable, id: number, forUpdate = false): Promise<QuarantineEntryRecord | null> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${SUMMARY_COLUMNS}, body, properties FROM quarantine WHERE id = ?${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  const r = rows[0];
  if (!r) return null;
  return { ...summary(r), body: r['body'] as Buffer, properties: parseProperties(r['properties']) };
}

/** Deletes one entry; false when there was none. */
export async function deleteQuarantined(db: Queryable, id: number): Promise<boolean> {
  const [result] = await db.query('DELETE FROM quarantine WHERE id = ?', [id]);
  return (result as { affectedRows: number }).affectedRows > 0;
}

/** Records why a replayed message is still poison (cut as insertQuarantine cuts reasons). */
export async function updateQuarantineReason(db: Queryable, id: number, reason: string): Promise<void> {
  await db.query('UPDATE quarantine SET reason = ? WHERE id = ?', [clip(reason, REASON_MAX_CHARS), id]);
}

function conditions(query: QuarantineQuery, page: Pick<Page, 'direction' | 'after'>): { where: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (query.cell !== undefined) {
    parts.push('cell = ?');
    params.push(query.cell);
  }
  if (query.from) {
    parts.push('received_at > ?');
    params.push(query.from.toSql());
  }
  if (query.to) {
    parts.push('received_at <= ?');
    params.push(query.to.toSql());
  }
  const paging = pageSql('id', page);
  if (paging.where) {
    parts.push(paging.where);
    params.push(...paging.params);
  }
  return { where: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

function summary(r: RowDataPacket): QuarantineSummary {
  return {
    id: r['id'] as number,
    receivedAt: DateTime.parse(r['received_at'] as string),
    cell: r['cell'] as string,
    queue: r['queue'] as string,
    reason: r['reason'] as string,
    messageId: (r['message_id'] as string | null) ?? null,
    eventType: (r['event_type'] as string | null) ?? null,
    bodySize: Number(r['body_size']),
    bodyTruncated: Number(r['body_truncated']) === 1,
  };
}

function parseProperties(value: unknown): Record<string, unknown> | null {
  if (typeof value !== 'string' || value === '') return null;
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
