/**
 * Writing events: the part of the ingest transaction shared by the yagi-worker and by the
 * pipeline workers (handlers' new events go through exactly the same path).
 *
 * Idempotence (invariant 2) rests on the unique message_id: a message_id already stored, or
 * seen earlier in the same batch, stores nothing and is reported as a duplicate. Should another
 * process insert the same message_id between our check and our insert, the INSERT fails with a
 * duplicate-key error; the caller retries the batch and the check then finds it.
 */
import type { SqlValue } from 'mysql2';
import type { Pool } from 'mysql2/promise';
import { traitTypeOf, TraitTypeCode, type Event, type TraitValue } from '../event.js';
import { isValidForStorage } from '../distiller/index.js';
import { PoisonMessageError } from '../errors.js';
import { DateTime } from '../time.js';
import { encodeTraits } from './trait-codec.js';
import { insertRows, type Queryable } from '../db/sql.js';

export interface StoredEvent {
  readonly id: number;
  readonly event: Event;
}

export interface InsertResult {
  readonly stored: StoredEvent[];
  readonly duplicates: Event[];
}

/**
 * event_type ids, cached for the life of the process. New types are inserted on their own
 * autocommit statement (INSERT IGNORE, so two processes racing on a new type both succeed:
 * upstream dropped one event as a "duplicate" there, spec §10.5).
 */
export class EventTypeIds {
  private readonly cache = new Map<string, number>();

  constructor(private readonly pool: Pool) {}

  async resolve(names: Iterable<string>): Promise<ReadonlyMap<string, number>> {
    const missing = [...new Set(names)].filter((n) => !this.cache.has(n));
    if (missing.length > 0) {
      await insertRows(this.pool, 'INSERT IGNORE INTO event_type (`desc`) VALUES', missing.map((n) => [n]));
      const [rows] = await this.pool.query('SELECT id, `desc` FROM event_type WHERE `desc` IN (?)', [missing]);
      for (const r of rows as { id: number; desc: string }[]) this.cache.set(r.desc, r.id);
    }
    return this.cache;
  }
}

/** Inserts the events that are new; runs inside the caller's transaction. */
export async function insertEvents(
  conn: Queryable,
  events: readonly Event[],
  typeIds: ReadonlyMap<string, number>,
  indexedTraits: ReadonlySet<string>,
): Promise<InsertResult> {
  if (events.length === 0) return { stored: [], duplicates: [] };
  const duplicates: Event[] = [];
  const unique = new Map<string, Event>();
  for (const e of events) {
    if (unique.has(e.messageId)) duplicates.push(e);
    else unique.set(e.messageId, e);
  }
  const [existing] = await conn.query('SELECT message_id FROM event WHERE message_id IN (?)', [[...unique.keys()]]);
  for (const r of existing as { message_id: string }[]) {
    duplicates.push(unique.get(r.message_id)!);
    unique.delete(r.message_id);
  }
  if (unique.size === 0) return { stored: [], duplicates };

  const fresh = [...unique.values()];
  await insertRows(
    conn,
    'INSERT INTO event (message_id, generated, event_type_id, traits) VALUES',
    fresh.map((e) => [e.messageId, e.timestamp.toSql(), typeIdOf(typeIds, e.eventType), encodeTraits(e.traits)]),
  );
  const [idRows] = await conn.query('SELECT id, message_id FROM event WHERE message_id IN (?)', [[...unique.keys()]]);
  const ids = new Map((idRows as { id: number; message_id: string }[]).map((r) => [r.message_id, r.id]));
  const stored = fresh.map((event) => ({ id: ids.get(event.messageId)!, event }));

  if (indexedTraits.size > 0) {
    const traitRows: SqlValue[][] = [];
    for (const { id, event } of stored) {
      for (const name of indexedTraits) {
        const v = event.traits[name];
        if (v === undefined || v === null) continue;
        traitRows.push([id, name, ...typedColumns(v)]);
      }
    }
    if (traitRows.length > 0) {
      await insertRows(conn, 'INSERT INTO trait (event_id, name, type, t_string, t_int, t_float, t_datetime) VALUES', traitRows);
    }
  }
  return { stored, duplicates };
}

/** type, t_string, t_int, t_float, t_datetime for one value (non-finite floats: no value column). */
function typedColumns(v: TraitValue): SqlValue[] {
  const type = traitTypeOf(v);
  return [
    TraitTypeCode[type],
    typeof v === 'string' ? v : null,
    typeof v === 'bigint' ? v : null,
    typeof v === 'number' && Number.isFinite(v) ? v : null,
    v instanceof DateTime ? v.toSql() : null,
  ];
}

function typeIdOf(typeIds: ReadonlyMap<string, number>, eventType: string): number {
  const id = typeIds.get(eventType);
  if (id === undefined) throw new Error(`event type "${eventType}" was not resolved before insert`);
  return id;
}

const MAX_ID_CHARS = 255;

/**
 * Whether an event can be stored exactly, as ingest, quarantine replays and dry runs check it
 * before storing; throws PoisonMessageError saying why not: no traits (winchester stores no
 * event without traits), or a message_id or event_type that is empty, over 255 characters or not valid
 * Unicode (an unpaired surrogate from a `\ud800` escape has no exact bytes: migrations/0003).
 */
export function assertStorable(event: Event): void {
  if (!isValidForStorage(event)) throw new PoisonMessageError('the matching definition yields no traits (winchester stores no event without traits)');
  checkIdentifier('message_id', event.messageId);
  checkIdentifier('event_type', event.eventType);
}

/** What trait.t_string (TEXT) holds at most, in bytes. */
const MAX_INDEXED_TEXT_BYTES = 65_535;

/**
 * The quarantine reason for an event the database rejected alone for its content (`error`: the
 * database's, as db/errors.ts describeDbError gives it). That error names only the column, so
 * the indexed text traits longer than theirs are named too, when there are any (`event`
 * undefined: a quarantine row, which has none). Used by ingest and by quarantine replay.
 */
export function rejectedContentReason(error: string, event: Event | undefined, indexedTraits: ReadonlySet<string>): string {
  const oversized: string[] = [];
  for (const name of indexedTraits) {
    const v = event?.traits[name];
    if (typeof v !== 'string' || v.length * 3 <= MAX_INDEXED_TEXT_BYTES) continue;
    const bytes = Buffer.byteLength(v);
    if (bytes > MAX_INDEXED_TEXT_BYTES) oversized.push(`indexed trait ${name} is ${bytes} bytes`);
  }
  const hint = oversized.length === 0 ? '' : ` (${oversized.join(', ')}; an indexed text trait holds at most ${MAX_INDEXED_TEXT_BYTES} bytes (trait.t_string))`;
  return `could not be stored: ${error}${hint}`;
}

function checkIdentifier(what: string, value: string): void {
  // An empty message_id would make every later empty one a "duplicate", silently dropped.
  if (value === '') throw new PoisonMessageError(`${what} is empty, so this notification cannot be told from any other`);
  if (value.length > MAX_ID_CHARS) throw new PoisonMessageError(`${what} longer than ${MAX_ID_CHARS} characters`);
  if (!value.isWellFormed()) throw new PoisonMessageError(`${what} is not valid Unicode (an unpaired surrogate), so it cannot be stored exactly`);
}
