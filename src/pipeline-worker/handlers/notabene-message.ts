/**
 * The AMQP message NotabeneHandler publishes for an event (spec §4.7, §8.2). Upstream's
 * notabene sent the event dict as JSON with `default=str`, so consumers see `message_id`,
 * `event_type`, `timestamp` and every trait at the top level, datetimes as Python `str()`
 * (`YYYY-MM-DD HH:MM:SS[.ffffff]`, appendix B). Where Python's JSON differs from what every
 * consumer can read, we choose:
 *   - ints are JSON numbers while they are safe integers (|n| ≤ 2^53−1, exact in any JSON
 *     reader that parses to doubles), larger ones are decimal digit strings;
 *   - NaN and ±Infinity (bare tokens from Python, invalid JSON) are the strings "NaN",
 *     "Infinity", "-Infinity";
 *   - null traits (Python None, sent as null upstream) are left out, as they are when stored.
 * The message is persistent and carries the event's message_id as its AMQP message-id, so
 * consumers can drop the duplicates at-least-once publishing may produce (our generated ids
 * are deterministic).
 */
import type { Options } from 'amqplib';
import type { Event, TraitValue } from '../../shared/event.js';
import { DateTime } from '../../shared/time.js';

export interface NotabeneMessage {
  readonly messageId: string;
  readonly eventType: string;
  readonly content: Buffer;
  readonly properties: Options.Publish;
}

export function toNotabeneMessage(event: Event): NotabeneMessage {
  const traits = Object.entries(event.traits).flatMap(([name, value]) => (value === null ? [] : [[name, jsonValue(value)] as const]));
  // fromEntries defines own properties, so even a trait named `__proto__` is kept as data.
  const body = Object.fromEntries([
    ['message_id', event.messageId],
    ['event_type', event.eventType],
    ['timestamp', event.timestamp.toString()],
    ...traits,
  ]);
  return {
    messageId: event.messageId,
    eventType: event.eventType,
    content: Buffer.from(JSON.stringify(body), 'utf8'),
    properties: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      messageId: event.messageId,
    },
  };
}

function jsonValue(value: TraitValue): string | number {
  if (value instanceof DateTime) return value.toString();
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  // String() gives exactly the tokens Python's json module writes: NaN, Infinity, -Infinity.
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  return value;
}
