/**
 * LoggingHandler (spec §4.7): one info line per run naming the stream, the count and the
 * `event_type: message_id` list; events pass through untouched.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Event } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { createLoggingHandler } from '../../src/pipeline-worker/handlers/logger.js';

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function setup() {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const handler = createLoggingHandler({}, { log, now: () => DateTime.of(2015, 3, 1) });
  return { handler, lines };
}

const event = (eventType: string, messageId: string): Event => ({
  messageId,
  eventType,
  timestamp: DateTime.parse('2015-02-27 15:33:56.771932'),
  traits: { instance_id: 'X' },
});

describe('LoggingHandler', () => {
  it('logs one info line with the stream, the count and the event list, and passes the events through', async () => {
    const { handler, lines } = setup();
    const events = [event('compute.instance.create.end', 'id-1'), event('compute.instance.exists', 'id-2')];
    const out = await handler.handleEvents(events, { streamId: 7, streamName: 'test_trigger' });
    expect(out).toBe(events);
    expect(out).toEqual([event('compute.instance.create.end', 'id-1'), event('compute.instance.exists', 'id-2')]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'Received 2 events',
      streamId: 7,
      streamName: 'test_trigger',
      count: 2,
      events: ['compute.instance.create.end: id-1', 'compute.instance.exists: id-2'],
    });
  });

  it('logs an empty run too', async () => {
    const { handler, lines } = setup();
    expect(await handler.handleEvents([], { streamId: 8, streamName: 'other' })).toEqual([]);
    expect(lines.map((l) => [l.msg, l['count'], l['events']])).toEqual([['Received 0 events', 0, []]]);
  });

  it('has no side effects on commit or rollback', async () => {
    const { handler, lines } = setup();
    await handler.commit();
    await handler.rollback();
    expect(lines).toEqual([]);
  });
});
