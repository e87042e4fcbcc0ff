/**
 * What a file of notifications would become under a set of definitions, without a database
 * (`stv3 check --replay`): each body is decoded and distilled as the yagi-worker does, and the
 * events are filed into streams in memory with upstream's add_event (store/streams.ts
 * addEvent), "now" being each notification's own time, as in a time-synced replay.
 *
 * Input: JSON lines, plain or gzip: each line an oslo body (2.0 envelope or a bare 1.0
 * notification), or a wrapper object {"body": "<the body as text>", "properties": {…}} as the
 * raw archive writes them.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { decodeNotification, type BodyProperties } from '../shared/amqp/oslo.js';
import type { Distiller } from '../shared/distiller/index.js';
import { PoisonMessageError, toError } from '../shared/errors.js';
import { prepareEvent } from '../shared/store/batch.js';
import { assertStorable } from '../shared/store/events.js';
import { addEvent, countersFor, type OpenStream, type StreamCounters } from '../shared/store/streams.js';
import { DateTime } from '../shared/time.js';
import type { TriggerDefinition } from '../shared/triggers/index.js';

export interface TriggerReport {
  readonly trigger: string;
  readonly streams: number;
  readonly events: number;
  /** Streams whose fire criteria were met (they fire at `fire`). */
  readonly ready: number;
  /** Streams not ready whose expiry passed before the end of the file (they expire). */
  readonly expired: number;
  /** Streams still open at the end of the file. */
  readonly open: number;
  /** The first few streams: key, events, fire and expire times. */
  readonly examples: readonly { key: string; events: number; first: string; last: string; fire: string | null; expire: string }[];
}

export interface DryRunReport {
  readonly lines: number;
  readonly events: number;
  /** Per event type: events and the trait names they carry. */
  readonly eventTypes: readonly { eventType: string; events: number; traits: readonly string[] }[];
  /** event_type → notifications no definition matched. */
  readonly unmatched: readonly { eventType: string; count: number }[];
  /** reason → notifications that would be quarantined. */
  readonly quarantined: readonly { reason: string; count: number }[];
  readonly triggers: readonly TriggerReport[];
  /** The last notification time seen (the replay clock at the end). */
  readonly endTime: string | null;
}

/**
 * Reads `file` line by line, as bytes (gzip when it starts with the gzip magic bytes), so that a
 * line that is not valid UTF-8 is reported as the yagi-worker reports it. Blank lines are skipped.
 */
export async function* readLines(file: string): AsyncGenerator<Buffer> {
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(file, { start: 0, end: 1 });
    const chunks: Buffer[] = [];
    s.on('data', (c) => chunks.push(c as Buffer));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  const raw = createReadStream(file);
  const input: AsyncIterable<Buffer> = head[0] === 0x1f && head[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
  let rest: Buffer = Buffer.alloc(0);
  const line = (bytes: Buffer): Buffer | null => {
    const text = bytes.at(-1) === 0x0d ? bytes.subarray(0, -1) : bytes;
    return text.toString('latin1').trim() === '' ? null : text;
  };
  for await (const chunk of input) {
    let data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      const l = line(data.subarray(0, nl));
      if (l !== null) yield l;
      data = data.subarray(nl + 1);
    }
    rest = Buffer.from(data);
  }
  const last = line(rest);
  if (last !== null) yield last;
}

/** The body (and AMQP properties) a line holds: the line itself, or a raw archive record's. */
export function bodyOfLine(line: Buffer): { body: Buffer; properties?: BodyProperties } {
  if (!isUtf8(line)) return { body: line }; // reported by decodeNotification, with the byte
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.toString('utf8'));
  } catch {
    return { body: line }; // reported by decodeNotification as not JSON
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const o = parsed as Record<string, unknown>;
    if (!('oslo.message' in o) && !('event_type' in o) && typeof o['body'] === 'string') {
      const body = typeof o['body_encoding'] === 'string' && o['body_encoding'] === 'base64' ? Buffer.from(o['body'], 'base64') : Buffer.from(o['body']);
      const properties = o['properties'] as BodyProperties | undefined;
      return properties ? { body, properties } : { body };
    }
  }
  return { body: line };
}

/** Runs the file through the definitions and triggers; never touches a database. */
export async function dryRun(lines: AsyncIterable<Buffer>, distiller: Distiller, triggers: readonly TriggerDefinition[], maxExamples = 5): Promise<DryRunReport> {
  const types = new Map<string, { events: number; traits: Set<string> }>();
  const unmatched = new Map<string, number>();
  const quarantined = new Map<string, number>();
  const counters: StreamCounters = new Map();
  const open = new Map<string, OpenStream>();
  const closed: OpenStream[] = [];
  let count = 0;
  let events = 0;
  let end: DateTime | null = null;
  for await (const line of lines) {
    count++;
    const { body, properties } = bodyOfLine(line);
    try {
      const notification = decodeNotification(body, properties);
      const event = distiller.distill(notification, end ?? DateTime.now());
      if (event === null) {
        const type = String(notification['event_type']);
        unmatched.set(type, (unmatched.get(type) ?? 0) + 1);
        continue;
      }
      assertStorable(event);
      events++;
      end = end === null || event.timestamp.isAfter(end) ? event.timestamp : end;
      const t = types.get(event.eventType) ?? { events: 0, traits: new Set<string>() };
      t.events++;
      for (const name of Object.keys(event.traits)) t.traits.add(name);
      types.set(event.eventType, t);
      const prepared = prepareEvent(triggers, event, event.timestamp);
      for (const match of prepared.matches) {
        const key = match.openKey.toString('hex');
        const current = open.get(key) ?? null;
        const next = addEvent(current, match, { eventId: count, event, hits: match.hits, now: event.timestamp }, countersFor(counters, match.trigger));
        if (current !== null && next !== current) closed.push(current);
        open.set(key, next);
      }
    } catch (err) {
      const reason = err instanceof PoisonMessageError ? err.message : `distiller error: ${toError(err).message}`;
      quarantined.set(reason, (quarantined.get(reason) ?? 0) + 1);
    }
  }
  const all = [...closed, ...open.values()];
  return {
    lines: count,
    events,
    eventTypes: [...types].sort().map(([eventType, t]) => ({ eventType, events: t.events, traits: [...t.traits].sort() })),
    unmatched: [...unmatched].sort((a, b) => b[1] - a[1]).map(([eventType, c]) => ({ eventType, count: c })),
    quarantined: [...quarantined].sort((a, b) => b[1] - a[1]).map(([reason, c]) => ({ reason, count: c })),
    triggers: triggers.map((trigger) => {
      const mine = all.filter((s) => s.trigger === trigger);
      const ready = mine.filter((s) => s.fire !== null);
      const expired = mine.filter((s) => s.fire === null && (s.openKey === null || (end !== null && s.expire.compare(end) <= 0)));
      return {
        trigger: trigger.name,
        streams: mine.length,
        events: counters.get(trigger)?.addedEvents ?? 0,
        ready: ready.length,
        expired: expired.length,
        open: mine.length - ready.length - expired.length,
        examples: mine.slice(0, maxExamples).map((s) => ({ key: s.key, events: s.eventCount, first: s.firstEvent.toString(), last: s.lastEvent.toString(), fire: s.fire?.toString() ?? null, expire: s.expire.toString() })),
      };
    }),
    endTime: end?.toString() ?? null,
  };
}
