/**
 * Reading events for the API (spec §7.2 find_events): time range (from exclusive, to
 * inclusive, as upstream), event type, typed trait filters, `_mark` paging, counts, and one
 * event by message_id (exact bytes: upstream lower-cased it, spec §10.15).
 *
 * Where a trait is looked up (test/integration/api-explain.test.ts checks the plans):
 *  - a trait named in winchester.yaml `indexed_traits` is in the typed `trait` table. A string
 *    condition other than `ne` on one of them drives the query from ix_trait_string (name,
 *    t_string); further conditions on indexed traits are checked through trait's primary key;
 *  - any other trait lives only in event.traits (JSON, see trait-codec.ts) and is checked by
 *    reading the events of the requested time range (ix_event_generated, or
 *    ix_event_type_generated with an event type). Without a driving indexed condition, such a
 *    query needs from_datetime and to_datetime no more than `maxScanSeconds` apart; otherwise
 *    QueryRefusedError (the API's 400), since it would read every event.
 * Nothing here writes: an unknown event_name matches nothing (upstream inserted the type).
 */
import type { RowDataPacket } from 'mysql2';
import { TraitTypeCode, type Event } from '../event.js';
import type { Queryable } from '../db/sql.js';
import { DateTime } from '../time.js';
import { filterParam, pageSql, QueryRefusedError, SQL_OPERATOR, type Page, type TraitFilter } from './query-terms.js';
import { decodeTraits } from './trait-codec.js';

export interface EventQuery {
  /** generated > from (exclusive, upstream's from_datetime). */
  readonly from?: DateTime | undefined;
  /** generated <= to (inclusive, upstream's to_datetime). */
  readonly to?: DateTime | undefined;
  /** Exact event_type. */
  readonly eventName?: string | undefined;
  /** All must hold. */
  readonly traits?: readonly TraitFilter[] | undefined;
}

export interface EventSearchLimits {
  /** winchester.yaml indexed_traits. */
  readonly indexedTraits: ReadonlySet<string>;
  /** Longest time range read to check non-indexed traits, in seconds. */
  readonly maxScanSeconds: number;
}

export interface EventRecord extends Event {
  readonly id: number;
}

/** One page of events matching `query`, in the page's order. Throws QueryRefusedError. */
export async function findEvents(db: Queryable, query: EventQuery, page: Page, limits: EventSearchLimits): Promise<EventRecord[]> {
  const built = await buildQuery(db, query, page, limits);
  if (built === null) return [];
  const paging = pageSql('e.id', page);
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT ${built.straight ? 'STRAIGHT_JOIN ' : ''}e.id, e.message_id, e.generated, e.event_type_id, e.traits
       FROM ${built.from} ${built.where} ${paging.orderBy} LIMIT ?`,
    [...built.params, page.limit],
  );
  return toRecords(db, rows);
}

/** How many events match `query` and the page's mark. Throws QueryRefusedError. */
export async function countEvents(db: Queryable, query: EventQuery, page: Pick<Page, 'direction' | 'after'>, limits: EventSearchLimits): Promise<number> {
  const built = await buildQuery(db, query, page, limits);
  if (built === null) return 0;
  const [rows] = await db.query<RowDataPacket[]>(`SELECT ${built.straight ? 'STRAIGHT_JOIN ' : ''}COUNT(*) AS n FROM ${built.from} ${built.where}`, built.params);
  return Number(rows[0]!['n']);
}

/** The event with exactly this message_id, or null. */
export async function getEventByMessageId(db: Queryable, messageId: string): Promise<EventRecord | null> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id, message_id, generated, event_type_id, traits FROM event WHERE message_id = ?', [messageId]);
  return (await toRecords(db, rows))[0] ?? null;
}

/** Events by id (any order; missing ids are left out). */
export async function getEventsByIds(db: Queryable, ids: readonly number[]): Promise<EventRecord[]> {
  if (ids.length === 0) return [];
  const [rows] = await db.query<RowDataPacket[]>('SELECT id, message_id, generated, event_type_id, traits FROM event WHERE id IN (?)', [ids]);
  return toRecords(db, rows);
}

interface BuiltQuery {
  readonly from: string;
  readonly straight: boolean;
  readonly where: string;
  readonly params: unknown[];
}

/** null: nothing can match (unknown event type). */
async function buildQuery(db: Queryable, query: EventQuery, page: Pick<Page, 'direction' | 'after'>, limits: EventSearchLimits): Promise<BuiltQuery | null> {
  let typeId: number | null = null;
  if (query.eventName !== undefined) {
    typeId = await eventTypeId(db, query.eventName);
    if (typeId === null) return null;
  }
  const traits = [...(query.traits ?? [])];
  const driverIndex = traits.findIndex((f) => limits.indexedTraits.has(f.name) && f.type === 'string' && f.op !== 'ne');
  const driver = driverIndex >= 0 ? traits.splice(driverIndex, 1)[0]! : null;
  // Without a driving condition, every other trait condition is checked event by event.
  const scanned = driver === null ? traits : [];
  if (scanned.length > 0) checkScanBound(query, scanned, limits);

  const joinParams: unknown[] = [];
  const conditions: string[] = [];
  const params: unknown[] = [];
  let from: string;
  if (driver) {
    from = 'trait t0 JOIN event e ON e.id = t0.event_id';
    conditions.push('t0.name = ?', `t0.type = ${TraitTypeCode.text} AND t0.t_string ${SQL_OPERATOR[driver.op]} ?`);
    params.push(driver.name, driver.value);
  } else if (scanned.length > 0) {
    // The bound was checked: read the time range through its index, whatever the optimizer thinks.
    from = `event e FORCE INDEX (${typeId === null ? 'ix_event_generated' : 'ix_event_type_generated'})`;
  } else {
    from = 'event e';
  }
  traits.forEach((f, i) => {
    if (limits.indexedTraits.has(f.name)) {
      const alias = `t${i + 1}`;
      from += ` JOIN trait ${alias} ON ${alias}.event_id = e.id AND ${alias}.name = ?`;
      joinParams.push(f.name);
      conditions.push(indexedCondition(alias, f));
    } else {
      conditions.push(jsonCondition(f));
      params.push(jsonPath(f));
    }
    params.push(filterParam(f));
  });
  if (typeId !== null) {
    conditions.push('e.event_type_id = ?');
    params.push(typeId);
  }
  if (query.from) {
    conditions.push('e.generated > ?');
    params.push(query.from.toSql());
  }
  if (query.to) {
    conditions.push('e.generated <= ?');
    params.push(query.to.toSql());
  }
  const paging = pageSql('e.id', page);
  if (paging.where) {
    conditions.push(paging.where);
    params.push(...paging.params);
  }
  return { from, straight: driver !== null, where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params: [...joinParams, ...params] };
}

function checkScanBound(query: EventQuery, scanned: readonly TraitFilter[], limits: EventSearchLimits): void {
  const names = [...new Set(scanned.map((f) => f.name))].join(', ');
  const indexed = [...limits.indexedTraits].join(', ') || 'none';
  const why =
    `${names} can only be matched by reading every event of the time range ` +
    `(only =, <, <=, >, >= string conditions on indexed_traits use an index; indexed_traits: ${indexed})`;
  if (!query.from || !query.to) {
    throw new QueryRefusedError(query.from ? 'to_datetime' : 'from_datetime', `${why}: give from_datetime and to_datetime, at most ${limits.maxScanSeconds} seconds apart, or a string condition on an indexed trait`);
  }
  const seconds = query.to.diffMicros(query.from) / 1e6;
  if (seconds > limits.maxScanSeconds) {
    throw new QueryRefusedError('to_datetime', `${why}: from_datetime to to_datetime is ${seconds} seconds, more than the ${limits.maxScanSeconds} allowed (api_trait_scan_max_seconds)`);
  }
}

function indexedCondition(alias: string, f: TraitFilter): string {
  const column = { string: 't_string', int: 't_int', float: 't_float', datetime: 't_datetime' }[f.type];
  const code = { string: TraitTypeCode.text, int: TraitTypeCode.int, float: TraitTypeCode.float, datetime: TraitTypeCode.datetime }[f.type];
  return `${alias}.type = ${code} AND ${alias}.${column} ${SQL_OPERATOR[f.op]} ?`;
}

/** The JSON path of the filter's value inside event.traits (trait-codec.ts encoding). */
function jsonPath(f: TraitFilter): string {
  const key = `$.${JSON.stringify(f.name)}`;
  return { string: key, int: `${key}.i`, float: `${key}.f`, datetime: `${key}.d` }[f.type];
}

/**
 * A condition on event.traits: text is a JSON string (JSON_VALUE gives NULL for the tagged
 * objects of other types), compared byte-wise; ints are exact decimals; floats are numbers
 * (non-finite ones, stored as strings, never match); datetimes are fixed-width text.
 */
function jsonCondition(f: TraitFilter): string {
  const op = SQL_OPERATOR[f.op];
  switch (f.type) {
    case 'string':
      return `CONVERT(JSON_VALUE(e.traits, ?) USING utf8mb4) COLLATE utf8mb4_bin ${op} ?`;
    case 'int':
      return `CAST(JSON_VALUE(e.traits, ?) AS DECIMAL(65,0)) ${op} CAST(? AS DECIMAL(65,0))`;
    case 'float':
      return `JSON_EXTRACT(e.traits, ?) + 0e0 ${op} ?`;
    case 'datetime':
      return `JSON_VALUE(e.traits, ?) ${op} ?`;
  }
}

async function eventTypeId(db: Queryable, name: string): Promise<number | null> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM event_type WHERE `desc` = ?', [name]);
  return rows.length === 0 ? null : (rows[0]!['id'] as number);
}

/** event_type names by id; a name never changes, so they are kept for the life of the process. */
const typeNames = new Map<number, string>();

async function toRecords(db: Queryable, rows: RowDataPacket[]): Promise<EventRecord[]> {
  const missing = [...new Set(rows.map((r) => r['event_type_id'] as number))].filter((id) => !typeNames.has(id));
  if (missing.length > 0) {
    const [types] = await db.query<RowDataPacket[]>('SELECT id, `desc` FROM event_type WHERE id IN (?)', [missing]);
    for (const t of types) typeNames.set(t['id'] as number, t['desc'] as string);
  }
  return rows.map((r) => ({
    id: r['id'] as number,
    messageId: r['message_id'] as string,
    eventType: typeNames.get(r['event_type_id'] as number) ?? '',
    timestamp: DateTime.parse(r['generated'] as string),
    traits: decodeTraits(r['traits'] as string),
  }));
}
