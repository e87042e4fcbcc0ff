/**
 * Reading streams for the API (spec §7.2 find_streams): filters, `_mark` paging, counts, the
 * distinguishing traits of each stream, and deleting one (upstream's purge_stream: its
 * distinguishing traits and event links go with it, the events stay).
 *
 * Plans (test/integration/api-explain.test.ts checks them with EXPLAIN):
 *  - no trait filter: the primary key walked in `_mark` order, stopping after `limit` rows; a
 *    trigger_name or state filter walks ix_stream_name / ix_stream_state, which hold the ids in
 *    order too;
 *  - a string distinguishing trait (=, <, <=, >, >=) drives the query from ix_dist_trait_string
 *    (STRAIGHT_JOIN: the optimizer would otherwise walk every stream and probe each), then
 *    sorts the matches;
 *  - other trait filters are checked per stream through dist_trait's primary key.
 * Typed filters compare with the typed column (a string filter never matches an int trait, as
 * upstream's typed equality). A datetime filter also matches a timerange trait: `eq` when the
 * range contains the datetime (begin ≤ v < end), `ne` when it does not, the others against begin.
 */
import type { RowDataPacket } from 'mysql2';
import { TraitTypeCode } from '../event.js';
import type { Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';
import type { DistinguishingRawValue } from '../triggers/index.js';
import { filterParam, pageSql, SQL_OPERATOR, type Page, type TraitFilter } from './query-terms.js';

export interface StreamQuery {
  /** `first_event < olderThan` (upstream's older_than). */
  readonly olderThan?: DateTime | undefined;
  /** `last_event > youngerThan` (upstream's younger_than). */
  readonly youngerThan?: DateTime | undefined;
  /** A StreamState code. */
  readonly state?: number | undefined;
  readonly triggerName?: string | undefined;
  /** Distinguishing trait conditions, all of which must hold. */
  readonly traits?: readonly TraitFilter[] | undefined;
}

/** A stream row as listed, before its distinguishing traits are read. */
export interface StreamRow {
  readonly id: number;
  readonly name: string;
  /** StreamState code. */
  readonly state: number;
  readonly firstEvent: DateTime;
  readonly lastEvent: DateTime;
  readonly fireTimestamp: DateTime | null;
  readonly expireTimestamp: DateTime | null;
  /** Events filed into it; grows with every event appended (ingest counts it in the same transaction). */
  readonly eventCount: number;
  /**
   * The row's changing columns as read (state, event_count, first/last event, fire/expire
   * times): equal versions of one stream show the same stream.
   */
  readonly version: string;
}

export interface StreamRecord extends StreamRow {
  /** Name → value (timeranges as {begin, end}), in name order. */
  readonly distinguishingTraits: Record<string, DistinguishingRawValue>;
}

const COLUMNS = 's.id, s.name, s.state, s.first_event, s.last_event, s.fire_timestamp, s.expire_timestamp, s.event_count';

/** One page of streams matching `query`, in the page's order. */
export async function findStreams(db: Queryable, query: StreamQuery, page: Page): Promise<StreamRecord[]> {
  return withDistinguishingTraits(db, await findStreamRows(db, query, page));
}

/** The page's stream rows alone (one statement); withDistinguishingTraits completes them. */
export async function findStreamRows(db: Queryable, query: StreamQuery, page: Page): Promise<StreamRow[]> {
  const { from, where, params } = buildQuery(query, page);
  const paging = pageSql('s.id', page);
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${from.straight ? 'STRAIGHT_JOIN ' : ''}${COLUMNS} FROM ${from.sql} ${where} ${paging.orderBy} LIMIT ?`, [
    ...params,
    page.limit,
  ]);
  return rows.map(toRow);
}

/** How many streams match `query` and the page's mark (upstream: the mark applies, the limit does not). */
export async function countStreams(db: Queryable, query: StreamQuery, page: Pick<Page, 'direction' | 'after'>): Promise<number> {
  const { from, where, params } = buildQuery(query, page);
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${from.straight ? 'STRAIGHT_JOIN ' : ''}COUNT(*) AS n FROM ${from.sql} ${where}`, params);
  return Number(rows[0]!['n']);
}

/** One stream by id, or null. */
export async function getStream(db: Queryable, id: number): Promise<StreamRecord | null> {
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM stream s WHERE s.id = ?`, [id]);
  return (await withDistinguishingTraits(db, rows.map(toRow)))[0] ?? null;
}

/**
 * Deletes a stream with its distinguishing traits and event links (ON DELETE CASCADE); its
 * events are kept. Returns false when there was no such stream.
 */
export async function deleteStream(db: Queryable, id: number): Promise<boolean> {
  const [result] = await db.query('DELETE FROM stream WHERE id = ?', [id]);
  return (result as { affectedRows: number }).affectedRows > 0;
}

/**
 * The ids of each stream's events, in timestamp order (spec §4.5), for `details`: the join
 * carries no trait documents, so it stays small and is sorted by the server. Streams without
 * events map to [].
 */
export async function listStreamEventIds(db: Queryable, streamIds: readonly number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>(streamIds.map((id) => [id, []]));
  if (streamIds.length === 0) return out;
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT STRAIGHT_JOIN se.stream_id, e.id FROM streamevent se JOIN event e ON e.id = se.event_id
      WHERE se.stream_id IN (?) ORDER BY se.stream_id, e.generated, e.id`,
    [streamIds],
  );
  for (const r of rows) out.get(r['stream_id'] as number)!.push(r['id'] as number);
  return out;
}

interface BuiltQuery {
  readonly from: { sql: string; straight: boolean };
  readonly where: string;
  readonly params: unknown[];
}

/** A string filter other than ne can be looked up in ix_dist_trait_string (name, dt_string). */
function drivesFromIndex(f: TraitFilter): boolean {
  return f.type === 'string' && f.op !== 'ne';
}

function buildQuery(query: StreamQuery, page: Pick<Page, 'direction' | 'after'>): BuiltQuery {
  const traits = [...(query.traits ?? [])];
  const driverIndex = traits.findIndex(drivesFromIndex);
  const joinParams: unknown[] = [];
  const conditions: string[] = [];
  const params: unknown[] = [];
  let from: string;
  if (driverIndex >= 0) {
    const driver = traits.splice(driverIndex, 1)[0]!;
    from = 'dist_trait d0 JOIN stream s ON s.id = d0.stream_id';
    conditions.push('d0.name = ?', traitCondition('d0', driver));
    params.push(driver.name, ...traitParams(driver));
  } else {
    from = 'stream s';
  }
  traits.forEach((f, i) => {
    const alias = `d${i + 1}`;
    from += ` JOIN dist_trait ${alias} ON ${alias}.stream_id = s.id AND ${alias}.name = ?`;
    joinParams.push(f.name);
    conditions.push(traitCondition(alias, f));
    params.push(...traitParams(f));
  });
  if (query.olderThan) {
    conditions.push('s.first_event < ?');
    params.push(query.olderThan.toSql());
  }
  if (query.youngerThan) {
    conditions.push('s.last_event > ?');
    params.push(query.youngerThan.toSql());
  }
  if (query.state !== undefined) {
    conditions.push('s.state = ?');
    params.push(query.state);
  }
  if (query.triggerName !== undefined) {
    conditions.push('s.name = ?');
    params.push(query.triggerName);
  }
  const paging = pageSql('s.id', page);
  if (paging.where) {
    conditions.push(paging.where);
    params.push(...paging.params);
  }
  return {
    from: { sql: from, straight: driverIndex >= 0 },
    where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '',
    params: [...joinParams, ...params],
  };
}

function traitCondition(alias: string, f: TraitFilter): string {
  const op = SQL_OPERATOR[f.op];
  switch (f.type) {
    case 'string':
      return `${alias}.type = ${TraitTypeCode.text} AND ${alias}.dt_string ${op} ?`;
    case 'int':
      return `${alias}.type = ${TraitTypeCode.int} AND ${alias}.dt_int ${op} ?`;
    case 'float':
      return `${alias}.type = ${TraitTypeCode.float} AND ${alias}.dt_float ${op} ?`;
    case 'datetime': {
      const range =
        f.op === 'eq' || f.op === 'ne'
          ? `${f.op === 'ne' ? 'NOT ' : ''}(${alias}.dt_timerange_begin <= ? AND ? < ${alias}.dt_timerange_end)`
          : `${alias}.dt_timerange_begin ${op} ?`;
      return `((${alias}.type = ${TraitTypeCode.datetime} AND ${alias}.dt_datetime ${op} ?) OR (${alias}.type = ${TraitTypeCode.timerange} AND ${range}))`;
    }
  }
}

function traitParams(f: TraitFilter): unknown[] {
  const v = filterParam(f);
  if (f.type !== 'datetime') return [v];
  return f.op === 'eq' || f.op === 'ne' ? [v, v, v] : [v, v];
}

/** A listed row; its datetimes are parsed when first read (a page served again never reads them). */
class ListedStream implements StreamRow {
  readonly id: number;
  readonly name: string;
  readonly state: number;
  readonly eventCount: number;
  readonly version: string;
  private parsed: { first: DateTime; last: DateTime; fire: DateTime | null; expire: DateTime | null } | null = null;

  constructor(private readonly row: RowDataPacket) {
    this.id = row['id'] as number;
    this.name = row['name'] as string;
    this.state = row['state'] as number;
    this.eventCount = row['event_count'] as number;
    this.version = `${this.state} ${this.eventCount} ${row['first_event']} ${row['last_event']} ${row['fire_timestamp']} ${row['expire_timestamp']}`;
  }

  private get times(): { first: DateTime; last: DateTime; fire: DateTime | null; expire: DateTime | null } {
    this.parsed ??= {
      first: DateTime.parse(this.row['first_event'] as string),
      last: DateTime.parse(this.row['last_event'] as string),
      fire: nullableDateTime(this.row['fire_timestamp']),
      expire: nullableDateTime(this.row['expire_timestamp']),
    };
    return this.parsed;
  }

  get firstEvent(): DateTime {
    return this.times.first;
  }

  get lastEvent(): DateTime {
    return this.times.last;
  }

  get fireTimestamp(): DateTime | null {
    return this.times.fire;
  }

  get expireTimestamp(): DateTime | null {
    return this.times.expire;
  }
}

function toRow(r: RowDataPacket): StreamRow {
  return new ListedStream(r);
}

/** The rows with their distinguishing traits (one statement for the page). */
export async function withDistinguishingTraits(db: Queryable, rows: readonly StreamRow[]): Promise<StreamRecord[]> {
  if (rows.length === 0) return [];
  const [traitRows] = await db.query<RowDataPacket[]>(
    `SELECT stream_id, name, type, dt_string, dt_int, dt_float, dt_datetime, dt_timerange_begin, dt_timerange_end
       FROM dist_trait WHERE stream_id IN (?) ORDER BY stream_id, name`,
    [rows.map((r) => r.id)],
  );
  const traits = new Map<number, Record<string, DistinguishingRawValue>>();
  for (const t of traitRows) {
    let record = traits.get(t['stream_id'] as number);
    if (!record) traits.set(t['stream_id'] as number, (record = {}));
    record[t['name'] as string] = distValue(t);
  }
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    state: r.state,
    firstEvent: r.firstEvent,
    lastEvent: r.lastEvent,
    fireTimestamp: r.fireTimestamp,
    expireTimestamp: r.expireTimestamp,
    eventCount: r.eventCount,
    version: r.version,
    distinguishingTraits: traits.get(r.id) ?? {},
  }));
}

function distValue(t: RowDataPacket): DistinguishingRawValue {
  switch (t['type'] as number) {
    case TraitTypeCode.text:
      return t['dt_string'] as string;
    case TraitTypeCode.int:
      return t['dt_int'] === null ? null : BigInt(String(t['dt_int']));
    case TraitTypeCode.float:
      return t['dt_float'] === null ? Number.NaN : Number(t['dt_float']);
    case TraitTypeCode.datetime:
      return nullableDateTime(t['dt_datetime']);
    case TraitTypeCode.timerange:
      return { begin: DateTime.parse(t['dt_timerange_begin'] as string), end: DateTime.parse(t['dt_timerange_end'] as string) };
    default:
      return null;
  }
}

export function nullableDateTime(v: unknown): DateTime | null {
  return v === null || v === undefined ? null : DateTime.parse(v as string);
}
