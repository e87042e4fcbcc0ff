/**
 * The pipeline handlers this project ships, by the names pipelines.yaml uses, and the
 * upstream class paths (winchester.yaml `pipeline_handlers`) they stand in for, so an
 * upstream config keeps working. AtomPubHandler is mapped but not implemented: a pipeline
 * naming it fails validation at worker start (spec §4.4), like an unimportable class.
 */
import { createLoggingHandler } from './logger.js';
import { createNotabeneHandler } from './notabene.js';
import type { HandlerFactory } from './types.js';
import { createUsageHandler } from './usage.js';

/** Null-prototype maps, so names such as `constructor` are simply unknown. */
function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

export const builtinHandlers: Readonly<Record<string, HandlerFactory>> = lookupTable({
  logger: createLoggingHandler,
  usage: createUsageHandler,
  notabene: createNotabeneHandler,
});

export const upstreamHandlerNames: Readonly<Record<string, string>> = lookupTable({
  'winchester.pipeline_handler:LoggingHandler': 'logger',
  'winchester.pipeline_handler:UsageHandler': 'usage',
  'winchester.pipeline_handler:NotabeneHandler': 'notabene',
  'winchester.pipeline_handler:AtomPubHandler': 'atompub',
});

/** Our handler name for an upstream `module:Class` path, or undefined if unknown. */
export function resolveHandlerName(classPath: string): string | undefined {
  return upstreamHandlerNames[classPath];
}
