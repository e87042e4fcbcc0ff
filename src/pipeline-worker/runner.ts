/**
 * Runs one stream's pipeline with upstream's handler contract (spec §4.4): fresh handler
 * instances, `handleEvents` through the chain, then `commit` on every handler, or `rollback` on
 * every handler if one of them threw. The result is the events the handlers created (those
 * whose message_id was not among the input), or the error that sends the stream to error.
 *
 * A commit that throws fails the run too (upstream logged and ignored it, losing e.g. the
 * notabene publish): the stream is then retried, and handlers with side effects must be
 * idempotent on message_id (the generated ids are deterministic).
 */
import type { Logger } from 'pino';
import type { Event } from '../shared/event.js';
import { toError } from '../shared/errors.js';
import type { DateTime } from '../shared/time.js';
import type { PipelineEnv, PipelineHandler } from './handlers/types.js';
import type { HandlerSpec } from './pipelines.js';

export type RunResult = { readonly ok: true; readonly newEvents: Event[] } | { readonly ok: false; readonly error: string };

export async function runPipeline(
  stream: { readonly id: number; readonly name: string },
  events: Event[],
  specs: readonly HandlerSpec[],
  log: Logger,
  now: () => DateTime,
): Promise<RunResult> {
  const env: PipelineEnv = { streamId: stream.id, streamName: stream.name };
  const handlers: { spec: HandlerSpec; handler: PipelineHandler }[] = [];
  const inputIds = new Set(events.map((e) => e.messageId));
  let current = events;
  let step = '';
  try {
    for (const spec of specs) {
      step = spec.name;
      handlers.push({ spec, handler: spec.factory(spec.params, { log, now }) });
    }
    for (const { spec, handler } of handlers) {
      step = spec.name;
      current = await handler.handleEvents(current, env);
    }
  } catch (err) {
    for (const { spec, handler } of handlers) {
      try {
        await handler.rollback();
      } catch (rollbackErr) {
        log.warn({ err: toError(rollbackErr), streamId: stream.id, handler: spec.name }, 'rollback error');
      }
    }
    return { ok: false, error: `handler "${step}" failed: ${toError(err).message}` };
  }
  for (const { spec, handler } of handlers) {
    try {
      await handler.commit();
    } catch (err) {
      return { ok: false, error: `handler "${spec.name}" commit failed: ${toError(err).message}` };
    }
  }
  return { ok: true, newEvents: current.filter((e) => !inputIds.has(e.messageId)) };
}
