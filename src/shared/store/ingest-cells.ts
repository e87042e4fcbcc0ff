/**
 * Per-cell ingest progress (migrations/0004_api.sql `ingest_cell`): what the API's /metrics and
 * `stv3 status` show as a cell's totals and last ingest time. The yagi-worker adds each batch's
 * counts inside its ingest transaction, so the row commits with the events it counts.
 */
import type { Queryable } from '../db/sql.js';
import type { DateTime } from '../time.js';

export interface CellBatchCounts {
  readonly stored: number;
  readonly duplicates: number;
  readonly quarantined: number;
  /** The newest `generated` among the events stored, if any. */
  readonly lastEventAt: DateTime | null;
}

/** Adds one batch to its cell's row (one upsert; the cell's only writer is its yagi-worker). */
export async function recordCellBatch(conn: Queryable, cell: string, counts: CellBatchCounts): Promise<void> {
  await conn.query(
    `INSERT INTO ingest_cell (cell, events_stored, duplicates, quarantined, last_ingest_at, last_event_at)
     VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6), ?)
     ON DUPLICATE KEY UPDATE events_stored = events_stored + VALUES(events_stored), duplicates = duplicates + VALUES(duplicates),
       quarantined = quarantined + VALUES(quarantined), last_ingest_at = VALUES(last_ingest_at),
       last_event_at = GREATEST(COALESCE(last_event_at, VALUES(last_event_at)), COALESCE(VALUES(last_event_at), last_event_at))`,
    [cell, counts.stored, counts.duplicates, counts.quarantined, counts.lastEventAt?.toSql() ?? null],
  );
}

/** The latest timestamp among `events`, or null for none. */
export function newestEvent(events: readonly { readonly timestamp: DateTime }[]): DateTime | null {
  let newest: DateTime | null = null;
  for (const e of events) if (newest === null || e.timestamp.isAfter(newest)) newest = e.timestamp;
  return newest;
}
