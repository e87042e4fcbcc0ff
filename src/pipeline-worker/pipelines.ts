/**
 * pipelines.yaml (spec §4.4) and winchester.yaml `pipeline_handlers`, resolved at start into
 * handler factories, so that a bad name or bad parameters stop the worker with file, key and
 * reason instead of erroring streams later.
 *
 * `pipeline_handlers` values may be:
 *   - upstream class paths (`winchester.pipeline_handler:UsageHandler`, …): our built-in handlers;
 *   - a built-in name (`logger`, `usage`, `notabene`);
 *   - `<path to a .js module>:<export>` (relative to winchester.yaml) exporting a HandlerFactory,
 *     for handlers of your own.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { ConfigError } from '../shared/errors.js';
import type { PipelinesConfig } from '../shared/config/pipelines-conf.js';
import { DateTime } from '../shared/time.js';
import { builtinHandlers, resolveHandlerName } from './handlers/builtin.js';
import type { HandlerFactory } from './handlers/types.js';

export interface HandlerSpec {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly factory: HandlerFactory;
}

export type Pipelines = ReadonlyMap<string, readonly HandlerSpec[]>;

/** Resolves winchester.yaml `pipeline_handlers` (name → class path) to factories. */
export async function resolveHandlers(pipelineHandlers: Readonly<Record<string, string>>, winchesterFile: string): Promise<Map<string, HandlerFactory>> {
  const out = new Map<string, HandlerFactory>();
  for (const [name, target] of Object.entries(pipelineHandlers)) {
    const key = `pipeline_handlers.${name}`;
    const builtin = builtinHandlers[resolveHandlerName(target) ?? target];
    if (builtin) {
      out.set(name, builtin);
      continue;
    }
    const m = /^(.+\.m?js):([A-Za-z_$][\w$]*)$/.exec(target);
    if (!m) {
      const known = resolveHandlerName(target);
      throw new ConfigError(
        winchesterFile,
        key,
        known ? `${target} is not implemented here` : `unknown handler "${target}" (built-in: ${Object.keys(builtinHandlers).join(', ')}, or "<module.js>:<export>")`,
      );
    }
    const file = isAbsolute(m[1]!) ? m[1]! : resolve(dirname(winchesterFile), m[1]!);
    if (!existsSync(file)) throw new ConfigError(winchesterFile, key, `module ${file} not found`);
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const factory = mod[m[2]!];
    if (typeof factory !== 'function') throw new ConfigError(winchesterFile, key, `${file} has no exported function "${m[2]}"`);
    out.set(name, factory as HandlerFactory);
  }
  return out;
}

/**
 * Builds the pipelines of pipelines.yaml from their handler factories. Every handler is built
 * once here with its params (and a throwaway context) so bad params fail at start.
 */
export function buildPipelines(config: PipelinesConfig, handlers: ReadonlyMap<string, HandlerFactory>, log: Logger): Pipelines {
  const out = new Map<string, HandlerSpec[]>();
  for (const [pipeline, items] of config.pipelines) {
    out.set(
      pipeline,
      items.map(({ name, params, at }) => {
        const factory = handlers.get(name);
        if (!factory) throw new ConfigError(config.file, at, `unknown handler "${name}": not in winchester.yaml pipeline_handlers (${[...handlers.keys()].join(', ') || 'none'})`);
        try {
          factory(params, { log, now: () => DateTime.now() });
        } catch (err) {
          throw new ConfigError(config.file, `${at}.params`, `handler "${name}": ${(err as Error).message}`);
        }
        return { name, params, factory };
      }),
    );
  }
  return out;
}
