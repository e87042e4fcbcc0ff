/**
 * The API's JSON, as quince wrote it (spec §7.2, Appendix B), built as text so that integers
 * beyond 2^53 stay exact and floats keep their type:
 *  - datetimes are tagged, naive UTC, Python isoformat (`.ffffff` only when µs ≠ 0):
 *    `{"__type__": "datetime", "datetime": "2015-02-27T15:27:18.603932"}`;
 *  - timeranges `{"__type__": "timex.TimeRange", "begin": iso, "end": iso}`;
 *  - ints are JSON integers with every digit; floats print with a fraction as Python does
 *    (`1024.0`), and the non-finite ones, which Python wrote as bare `NaN`/`Infinity` (not JSON),
 *    as the strings "NaN", "Infinity", "-Infinity";
 *  - a stream: id, name, state (name), _mark, first_event, last_event, fire_timestamp,
 *    expire_timestamp (or null), distinguishing_traits, and events with details;
 *  - an event: message_id, event_type, timestamp, _mark (lists only), then its traits.
 */
import type { Event, TraitValue } from '../shared/event.js';
import type { StreamRecord } from '../shared/store/find-streams.js';
import { markOf, type SortDirection } from '../shared/store/query-terms.js';
import { stateName } from '../shared/store/stream-states.js';
import { DateTime } from '../shared/time.js';
import type { DistinguishingRawValue } from '../shared/triggers/index.js';

/** A value the API can write: JSON values plus bigint and DateTime (tagged). */
export type ApiValue = string | number | bigint | boolean | null | DateTime | { readonly begin: DateTime; readonly end: DateTime } | readonly ApiValue[] | RawJson | { readonly [key: string]: ApiValue | undefined };

/** Already serialised JSON, written as is. */
export class RawJson {
  constructor(readonly json: string) {}
}

/** Serialises `value` (undefined object members are left out). */
export function toJson(value: ApiValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'number':
      return numberJson(value);
    case 'boolean':
      return value ? 'true' : 'false';
  }
  if (value instanceof DateTime) return `{"__type__": "datetime", "datetime": "${value.toIsoformat()}"}`;
  if (value instanceof RawJson) return value.json;
  if (Array.isArray(value)) return `[${(value as readonly ApiValue[]).map(toJson).join(', ')}]`;
  if (isTimeRange(value)) {
    const r = value;
    return `{"__type__": "timex.TimeRange", "begin": "${r.begin.toIsoformat()}", "end": "${r.end.toIsoformat()}"}`;
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, ApiValue | undefined>)) {
    if (v !== undefined) parts.push(`${JSON.stringify(k)}: ${toJson(v)}`);
  }
  return `{${parts.join(', ')}}`;
}

function isTimeRange(value: object): value is { begin: DateTime; end: DateTime } {
  return 'begin' in value && value.begin instanceof DateTime && 'end' in value && value.end instanceof DateTime;
}

/** A JS number as JSON (counts, ids, seconds); float traits go through floatValue. */
function numberJson(n: number): string {
  if (!Number.isFinite(n)) return JSON.stringify(String(n));
  return String(n);
}

/** A float trait as Python printed it: `1024.0`, not `1024`. */
export function floatValue(n: number): RawJson {
  if (!Number.isFinite(n)) return new RawJson(JSON.stringify(String(n)));
  return new RawJson(Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : String(n));
}

/** A trait value (event or distinguishing) for toJson. */
export function traitValue(v: TraitValue | DistinguishingRawValue): ApiValue {
  if (typeof v === 'number') return floatValue(v);
  return v as ApiValue;
}

/** An event object; `mark` given for list rows. */
export function eventJson(e: Event, mark?: string): string {
  const fields: Record<string, ApiValue> = { message_id: e.messageId, event_type: e.eventType, timestamp: e.timestamp };
  if (mark !== undefined) fields['_mark'] = mark;
  for (const name in e.traits) {
    const v = e.traits[name];
    if (v !== null && v !== undefined && !(name in fields)) fields[name] = traitValue(v);
  }
  return toJson(fields);
}

/** A stream object; `events` (a serialised array) with details. */
export function streamJson(s: StreamRecord, direction: SortDirection, events?: RawJson): string {
  const traits: Record<string, ApiValue> = {};
  for (const [name, v] of Object.entries(s.distinguishingTraits)) if (v !== null) traits[name] = traitValue(v);
  return toJson({
    id: s.id,
    name: s.name,
    state: stateName(s.state),
    _mark: markOf(s.id, direction),
    first_event: s.firstEvent,
    last_event: s.lastEvent,
    fire_timestamp: s.fireTimestamp,
    expire_timestamp: s.expireTimestamp,
    distinguishing_traits: traits,
    events,
  });
}

/** Upstream's count shape. */
export function countJson(n: number): string {
  return `[{"count": ${n}}]`;
}
