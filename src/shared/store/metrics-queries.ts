/**
 * The system's state in a handful of cheap statements, for the API's /metrics and /v2/status
 * (and so `stv3 status`): per-cell ingest totals and last ingest time (ingest_cell), streams
 * by state and trigger, the oldest due stream, the quarantine's size per cell.
 *
 * Cost: ingest_cell and the quarantine are small; streams are counted on ix_stream_name /
 * ix_stream_state (an index scan of the stream table, which purge_completed_streams keeps
 * small); the oldest due stream is the first entry of ix_stream_state_fire /
 * ix_stream_state_expire for each due state.
 */
import type { RowDataPacket } from 'mysql2';
import type { Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';
import { nullableDateTime } from './find-streams.js';
import { stateName, StreamState, type StreamStateName } from './stream-states.js';

export interface CellStatus {
  readonly cell: string;
  readonly eventsStored: number;
  readonly duplicates: number;
  readonly quarantined: number;
  readonly lastIngestAt: DateTime | null;
  /** Newest event time stored by the cell (event time, not wall time). */
  readonly lastEventAt: DateTime | null;
}

export interface DueStream {
  readonly kind: 'fire' | 'expire';
  readonly id: number;
  readonly name: string;
  readonly state: StreamStateName;
  /** When it became due (its fire or expire timestamp). */
  readonly due: DateTime;
  /** now − due, seconds. */
  readonly ageSeconds: number;
}

export interface SystemStatus {
  /** The database's UTC clock when read. */
  readonly now: DateTime;
  readonly cells: readonly CellStatus[];
  /** Every state, 0 when none. */
  readonly streamsByState: Readonly<Record<StreamStateName, number>>;
  readonly streamsByTrigger: readonly { readonly trigger: string; readonly state: StreamStateName; readonly count: number }[];
  /** The stream due longest ago, of those not yet claimed (null: none due). */
  readonly oldestDue: DueStream | null;
  readonly quarantineByCell: readonly { readonly cell: string; readonly count: number }[];
}

/** Reads the status; `now` decides what is due (default: the database clock). */
export async function readSystemStatus(db: Queryable, now?: DateTime | null): Promise<SystemStatus> {
  const [clockRows] = await db.query<RowDataPacket[]>('SELECT UTC_TIMESTAMP(6) AS now');
  const dbNow = DateTime.parse(clockRows[0]!['now'] as string);
  const clock = now ?? dbNow;
  const [cells] = await db.query<RowDataPacket[]>('SELECT cell, events_stored, duplicates, quarantined, last_ingest_at, last_event_at FROM ingest_cell ORDER BY cell');
  const [streams] = await db.query<RowDataPacket[]>('SELECT name, state, COUNT(*) AS n FROM stream GROUP BY name, state ORDER BY name, state');
  const [quarantine] = await db.query<RowDataPacket[]>('SELECT cell, COUNT(*) AS n FROM quarantine GROUP BY cell ORDER BY cell');

  const byState = Object.fromEntries(Object.keys(StreamState).map((s) => [s, 0])) as Record<StreamStateName, number>;
  const byTrigger = streams.map((r) => ({ trigger: r['name'] as string, state: stateName(r['state'] as number), count: Number(r['n']) }));
  for (const t of byTrigger) byState[t.state] += t.count;

  return {
    now: dbNow,
    cells: cells.map((r) => ({
      cell: r['cell'] as string,
      eventsStored: Number(r['events_stored']),
      duplicates: Number(r['duplicates']),
      quarantined: Number(r['quarantined']),
      lastIngestAt: nullableDateTime(r['last_ingest_at']),
      lastEventAt: nullableDateTime(r['last_event_at']),
    })),
    streamsByState: byState,
    streamsByTrigger: byTrigger,
    oldestDue: await oldestDueStream(db, clock),
    quarantineByCell: quarantine.map((r) => ({ cell: r['cell'] as string, count: Number(r['n']) })),
  };
}

/** One indexed lookup per due (state, kind), as the claim queries walk them. */
async function oldestDueStream(db: Queryable, now: DateTime): Promise<DueStream | null> {
  const probes: { kind: 'fire' | 'expire'; state: number; column: 'fire_timestamp' | 'expire_timestamp' }[] = [
    { kind: 'fire', state: StreamState.active, column: 'fire_timestamp' },
    { kind: 'fire', state: StreamState.retry_fire, column: 'fire_timestamp' },
    { kind: 'expire', state: StreamState.active, column: 'expire_timestamp' },
    { kind: 'expire', state: StreamState.retry_expire, column: 'expire_timestamp' },
  ];
  let oldest: DueStream | null = null;
  for (const p of probes) {
    const [rows] = await db.query<RowDataPacket[]>(
      `SELECT id, name, ${p.column} AS due FROM stream WHERE state = ? AND ${p.column} <= ? ORDER BY ${p.column} LIMIT 1`,
      [p.state, now.toSql()],
    );
    const r = rows[0];
    if (!r) continue;
    const due = DateTime.parse(r['due'] as string);
    if (oldest === null || due.isBefore(oldest.due)) {
      oldest = { kind: p.kind, id: r['id'] as number, name: r['name'] as string, state: stateName(p.state), due, ageSeconds: now.diffMicros(due) / 1e6 };
    }
  }
  return oldest;
}
