/**
 * The pipeline handler contract (spec §4.4), in TypeScript.
 *
 * A new handler instance is made for every stream run. `handleEvents` gets the list from the
 * previous handler and returns the list for the next (it may filter, or append new events with
 * new message ids) and must have no side effects. After every handler's `handleEvents`
 * succeeded, `commit` is called on each (side effects go there); if any of them threw,
 * `rollback` is called on each instead.
 */
import type { Logger } from 'pino';
import type { Event } from '../../shared/event.js';
import type { DateTime } from '../../shared/time.js';

/** Shared by the handlers of one run; handlers may use it as a scratchpad. */
export interface PipelineEnv {
  readonly streamId: number;
  readonly streamName: string;
  [key: string]: unknown;
}

export interface PipelineHandler {
  handleEvents(events: Event[], env: PipelineEnv): Event[] | Promise<Event[]>;
  commit(): void | Promise<void>;
  rollback(): void | Promise<void>;
}

/** What a handler factory gets besides its params from pipelines.yaml. */
export interface HandlerContext {
  readonly log: Logger;
  /** The pipeline worker's clock ("now", time-sync aware). */
  now(): DateTime;
}

export type HandlerFactory = (params: Readonly<Record<string, unknown>>, ctx: HandlerContext) => PipelineHandler;
