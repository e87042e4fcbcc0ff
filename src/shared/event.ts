/**
 * The typed event a notification is distilled into (spec §3), and what pipelines pass around.
 *
 * A trait's JS type is its stackdistiller datatype:
 *   text → string · int → bigint (stored BIGINT) · float → number (DOUBLE) · datetime → DateTime (µs)
 * Pipeline-generated events may carry null values (upstream's None): such a key still counts as
 * present for trigger matching (spec §4.3) but is not stored.
 */
import { DateTime } from './time.js';

export type TraitValue = string | bigint | number | DateTime;

/** stackdistiller Datatype codes, also the `type` column of the trait tables (spec §5.1). */
export const TraitTypeCode = { none: 0, text: 1, int: 2, float: 3, datetime: 4, timerange: 5 } as const;
export type TraitTypeName = 'text' | 'int' | 'float' | 'datetime';

export interface Event {
  messageId: string;
  eventType: string;
  /** Naive UTC, µs. */
  timestamp: DateTime;
  /** Never contains the envelope keys message_id, event_type, timestamp. */
  traits: Readonly<Record<string, TraitValue | null>>;
}

export const ENVELOPE_KEYS: ReadonlySet<string> = new Set(['message_id', 'event_type', 'timestamp']);

export function traitTypeOf(value: TraitValue): TraitTypeName {
  if (typeof value === 'string') return 'text';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'float';
  return 'datetime';
}

/**
 * Looks a name up as winchester's event dict does: the envelope keys first, then traits.
 * `undefined` = absent; `null` = present with no value.
 */
export function eventValue(event: Event, name: string): TraitValue | null | undefined {
  switch (name) {
    case 'message_id':
      return event.messageId;
    case 'event_type':
      return event.eventType;
    case 'timestamp':
      return event.timestamp;
    default:
      return Object.prototype.hasOwnProperty.call(event.traits, name) ? event.traits[name] : undefined;
  }
}

/** Every datetime-valued key of the event (timestamp included): the variables timex sees. */
export function datetimeVariables(event: Event): Record<string, DateTime> {
  const vars: Record<string, DateTime> = {};
  for (const [name, value] of Object.entries(event.traits)) {
    if (value instanceof DateTime) vars[name] = value;
  }
  vars['timestamp'] = event.timestamp;
  return vars;
}
