/**
 * LoggingHandler (spec §4.7): records which events a stream run saw, one info line per run.
 * The `event_type: message_id` list goes in a field, not the message, so log tooling can
 * filter on it and a long stream does not produce a huge message. Events pass through.
 */
import type { Event } from '../../shared/event.js';
import type { HandlerFactory, PipelineEnv } from './types.js';

export const createLoggingHandler: HandlerFactory = (_params, ctx) => ({
  handleEvents(events: Event[], env: PipelineEnv): Event[] {
    ctx.log.info(
      {
        streamId: env.streamId,
        streamName: env.streamName,
        count: events.length,
        events: events.map((e) => `${e.eventType}: ${e.messageId}`),
      },
      `Received ${events.length} events`,
    );
    return events;
  },
  commit(): void {},
  rollback(): void {},
});
