/**
 * Everything a yagi-worker reads before it connects anywhere: yagi.conf, the winchester.yaml it
 * names and the files that one names (event definitions, triggers, and pipelines.yaml for the
 * names triggers refer to). Any problem is a ConfigError (file, key path, reason).
 */
import { loadYagiConfig, type YagiConfig } from '../shared/config/yagi-conf.js';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { Distiller } from '../shared/distiller/index.js';
import { loadPipelinesOf, loadTriggers, type TriggerDefinition } from '../shared/triggers/index.js';

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
  const triggers = loadTriggers(winchester, loadPipelinesOf(winchester));
  return { yagi, winchester, distiller, triggers, warnings: [...yagi.warnings, ...winchester.warnings, ...triggers.flatMap((t) => t.warnings)] };
}
