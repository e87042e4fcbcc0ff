/**
 * Everything a pipeline worker reads before connecting: winchester.yaml, triggers.yaml,
 * pipelines.yaml and the handlers they name (each built once with its params). Any problem is
 * a ConfigError naming file, key and reason.
 */
import type { Logger } from 'pino';
import { loadWinchesterConfig, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { ConfigError } from '../shared/errors.js';
import { loadPipelinesOf, loadTriggers, type TriggerDefinition } from '../shared/triggers/index.js';
import { buildPipelines, resolveHandlers, type Pipelines } from './pipelines.js';

export interface PipelineSetup {
  readonly winchester: WinchesterConfig;
  readonly triggers: readonly TriggerDefinition[];
  readonly pipelines: Pipelines;
}

export async function loadPipelineSetup(configFile: string, log: Logger): Promise<PipelineSetup> {
  const winchester = loadWinchesterConfig(configFile);
  if (!winchester.raw.pipeline_config) throw new ConfigError(winchester.file, 'pipeline_config', 'required by the pipeline worker');
  if (Object.keys(winchester.raw.pipeline_handlers).length === 0) throw new ConfigError(winchester.file, 'pipeline_handlers', 'required by the pipeline worker');
  const pipelinesConfig = loadPipelinesOf(winchester)!;
  const triggers = loadTriggers(winchester, pipelinesConfig);
  const handlers = await resolveHandlers(winchester.raw.pipeline_handlers, winchester.file);
  const pipelines = buildPipelines(pipelinesConfig, handlers, log);
  return { winchester, triggers, pipelines };
}
