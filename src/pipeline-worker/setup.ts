/**
 * Everything a pipeline worker reads before connecting: winchester.yaml, triggers.yaml,
 * pipelines.yaml and the handlers they name (each built once with its params). Any problem is
 * a ConfigError naming file, key and reason.
 */
import type { Logger } from 'pino';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { ConfigError } from '../shared/errors.js';
import type { TriggerDefinition } from '../shared/triggers/index.js';
import { loadTriggers } from '../yagi-worker/setup.js';
import { loadPipelines, resolveHandlers, type Pipelines } from './pipelines.js';

export interface PipelineSetup {
  readonly winchester: WinchesterConfig;
  readonly triggers: readonly TriggerDefinition[];
  readonly pipelines: Pipelines;
}

export async function loadPipelineSetup(configFile: string, log: Logger): Promise<PipelineSetup> {
  const winchester = loadWinchesterConfig(configFile);
  if (!winchester.raw.pipeline_config) throw new ConfigError(winchester.file, 'pipeline_config', 'required by the pipeline worker');
  if (Object.keys(winchester.raw.pipeline_handlers).length === 0) throw new ConfigError(winchester.file, 'pipeline_handlers', 'required by the pipeline worker');
  const triggers = loadTriggers(winchester);
  const handlers = await resolveHandlers(winchester.raw.pipeline_handlers, winchester.file);
  const pipelines = loadPipelines(resolveConfigFile(winchester, 'pipeline_config'), handlers, log);
  return { winchester, triggers, pipelines };
}
