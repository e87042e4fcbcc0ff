/**
 * pipelines.yaml (spec §4.4): pipeline name → list of handlers, each a handler name or
 * `{name, params}`. Parsed once here, with file and key path in every error; triggers.yaml is
 * checked against the names, and the pipeline worker resolves the handlers (pipelines.ts).
 */
import { ConfigError } from '../errors.js';
import { readYamlFile } from './yaml-file.js';

export interface PipelineItem {
  readonly name: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** Key path in the file, e.g. `test_fire_pipeline[1]`. */
  readonly at: string;
}

export interface PipelinesConfig {
  readonly file: string;
  readonly pipelines: ReadonlyMap<string, readonly PipelineItem[]>;
}

/** Reads and checks the shape of pipelines.yaml. Throws ConfigError. */
export function loadPipelinesConfig(file: string): PipelinesConfig {
  const data = readYamlFile(file);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(file, '', 'expected a mapping of pipeline names to handler lists');
  const pipelines = new Map<string, PipelineItem[]>();
  for (const [pipeline, list] of Object.entries(data as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new ConfigError(file, pipeline, 'expected a list of handlers');
    pipelines.set(
      pipeline,
      list.map((item: unknown, i) => handlerItem(item, file, `${pipeline}[${i}]`)),
    );
  }
  return { file, pipelines };
}

function handlerItem(item: unknown, file: string, at: string): PipelineItem {
  if (typeof item === 'string') return { name: item, params: {}, at };
  if (item && typeof item === 'object' && !Array.isArray(item)) {
    const { name, params, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new ConfigError(file, `${at}.${unknown[0]}`, 'unknown key (expected name and params)');
    if (typeof name !== 'string') throw new ConfigError(file, `${at}.name`, 'required: the handler name');
    if (params !== undefined && params !== null && (typeof params !== 'object' || Array.isArray(params))) throw new ConfigError(file, `${at}.params`, 'expected a mapping');
    return { name, params: (params ?? {}) as Record<string, unknown>, at };
  }
  throw new ConfigError(file, at, 'expected a handler name or {name, params}');
}
