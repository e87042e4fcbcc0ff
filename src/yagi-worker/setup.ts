/**
 * Everything a yagi-worker reads before it connects anywhere: yagi.conf, the winchester.yaml it
 * names and the files that one names (event definitions, triggers, and pipelines.yaml for the
 * names triggers refer to). Any problem is a ConfigError (file, key path, reason).
 */
import { loadYagiConfig, type YagiConfig } from '../shared/config/yagi-conf.js';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { Distiller } from '../shared/distiller/index.js';
import { loadPipelineNames } from '../shared/config/pipelines-conf.js';
import { loadTriggerDefinitions, type TriggerDefinition } from '../shared/triggers/index.js';

export interface IngestSetup {
  readonly yagi: YagiConfig;
  readonly winchester: WinchesterConfig;
  readonly distiller: Distiller;
  readonly triggers: readonly TriggerDefinition[];
  readonly warnings: readonly string[];
}

/** Reads and validates every file the worker needs. Throws ConfigError. */
export function loadIngestSetup(configFiles: readonly string[], cell?: string): IngestSetup {
  const yagi = loadYagiConfig(configFiles, cell === undefined ? {} : { cell });
  const winchester = loadWinchesterConfig(yagi.winchesterConfigFile);
  const distiller = Distiller.fromFile(resolveConfigFile(winchester, 'distiller_config'), { catchAll: winchester.raw.catch_all_notifications });
  const triggers = loadTriggers(winchester);
  return { yagi, winchester, distiller, triggers, warnings: [...yagi.warnings, ...winchester.warnings, ...triggers.flatMap((t) => t.warnings)] };
}

/** triggers.yaml, checked against pipelines.yaml when winchester.yaml names one. */
export function loadTriggers(winchester: WinchesterConfig): TriggerDefinition[] {
  if (!winchester.raw.trigger_definitions) return [];
  const pipelineNames = winchester.raw.pipeline_config ? loadPipelineNames(resolveConfigFile(winchester, 'pipeline_config')) : undefined;
  return loadTriggerDefinitions(resolveConfigFile(winchester, 'trigger_definitions'), {
    ...(pipelineNames ? { pipelineNames } : {}),
    allowMisspelledMapDistinguishedBy: winchester.raw.allow_misspelled_map_distinguished_by,
  });
}
