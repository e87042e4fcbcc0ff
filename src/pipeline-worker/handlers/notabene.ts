/**
 * NotabeneHandler (spec §4.7): publishes the events earlier handlers left in the run's env
 * (`env_keys`, in the shipped pipelines `usage_notifications` from UsageHandler) to an AMQP
 * exchange, routing key = `queue_name`, for downstream billing consumers.
 *
 * `handleEvents` only collects (no side effects) and passes the events on unchanged; `commit`
 * publishes and resolves once the broker confirmed every message, and throws otherwise, so the
 * pipeline worker errors the stream and it is retried (at-least-once; upstream logged and
 * swallowed publish errors, at-most-once). `rollback` drops what was collected. Pooling,
 * declaring and confirms are in notabene-publisher.ts, the message format in
 * notabene-message.ts, the params in notabene-params.ts.
 */
import type { Event } from '../../shared/event.js';
import { DateTime } from '../../shared/time.js';
import { toNotabeneMessage } from './notabene-message.js';
import { brokerDisplayUrl, parseNotabeneParams } from './notabene-params.js';
import { publishConfirmed } from './notabene-publisher.js';
import type { HandlerFactory, PipelineEnv } from './types.js';

export { closeNotabeneConnections } from './notabene-publisher.js';

export const createNotabeneHandler: HandlerFactory = (params, ctx) => {
  const { broker, topology, envKeys, confirmTimeoutMs } = parseNotabeneParams(params);
  const handlerLog = ctx.log.child({
    handler: 'notabene',
    broker: brokerDisplayUrl(broker),
    exchange: topology.exchange,
    routingKey: topology.queue,
  });
  let log = handlerLog;
  let pending: Event[] = [];
  return {
    handleEvents(events: Event[], env: PipelineEnv): Event[] {
      log = handlerLog.child({ streamId: env.streamId, streamName: env.streamName });
      pending = envKeys.flatMap((key) => eventsAt(env, key));
      return events;
    },
    async commit(): Promise<void> {
      if (pending.length === 0) return;
      const messages = pending.map(toNotabeneMessage);
      await publishConfirmed(broker, topology, messages, log, confirmTimeoutMs);
      log.info(
        { count: messages.length, events: messages.map((m) => `${m.eventType}: ${m.messageId}`) },
        `Published ${messages.length} notifications`,
      );
      pending = [];
    },
    rollback(): void {
      pending = [];
    },
  };
};

/** The events an earlier handler left at env[key]; none when the key is absent (as upstream). */
function eventsAt(env: PipelineEnv, key: string): Event[] {
  const value = env[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isEvent)) {
    throw new TypeError(`notabene: env['${key}'] is not a list of events`);
  }
  return value;
}

function isEvent(value: unknown): value is Event {
  if (value === null || typeof value !== 'object') return false;
  const e = value as Partial<Event>;
  return typeof e.messageId === 'string' && typeof e.eventType === 'string' && e.timestamp instanceof DateTime && typeof e.traits === 'object' && e.traits !== null;
}
