/**
 * The built-in handler registry and the upstream class paths of winchester.yaml
 * `pipeline_handlers` (spec §4.1, §4.4).
 */
import { describe, expect, it } from 'vitest';
import { builtinHandlers, resolveHandlerName } from '../../src/pipeline-worker/handlers/builtin.js';
import { createLoggingHandler } from '../../src/pipeline-worker/handlers/logger.js';
import { createNotabeneHandler } from '../../src/pipeline-worker/handlers/notabene.js';
import { createUsageHandler } from '../../src/pipeline-worker/handlers/usage.js';

describe('built-in pipeline handlers', () => {
  it('registers logger, usage and notabene under our names', () => {
    expect(builtinHandlers['logger']).toBe(createLoggingHandler);
    expect(builtinHandlers['usage']).toBe(createUsageHandler);
    expect(builtinHandlers['notabene']).toBe(createNotabeneHandler);
  });

  it('maps the upstream class paths to our names', () => {
    expect(resolveHandlerName('winchester.pipeline_handler:LoggingHandler')).toBe('logger');
    expect(resolveHandlerName('winchester.pipeline_handler:UsageHandler')).toBe('usage');
    expect(resolveHandlerName('winchester.pipeline_handler:NotabeneHandler')).toBe('notabene');
    expect(resolveHandlerName('winchester.pipeline_handler:AtomPubHandler')).toBe('atompub');
  });

  it('does not implement atompub, and knows no other names', () => {
    expect(builtinHandlers['atompub']).toBeUndefined();
    expect(resolveHandlerName('winchester.pipeline_handler:NullHandler')).toBeUndefined();
    expect(resolveHandlerName('constructor')).toBeUndefined();
    expect(builtinHandlers['toString']).toBeUndefined();
  });
});
