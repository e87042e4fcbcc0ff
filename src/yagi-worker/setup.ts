/**
 * Everything a yagi-worker reads before it connects anywhere: yagi.conf, the winchester.yaml it
 * names and the files that one names. Any problem is a ConfigError (file, key path, reason).
 */
import { loadYagiConfig, type YagiConfig } from '../shared/config/yagi-conf.js';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { Distiller } from '../shared/distiller/index.js';

export interface IngestSetup {
  readonly yagi: YagiConfig;
  readonly winchester: WinchesterConfig;
  readonly distiller: Distiller;
  readonly warnings: readonly string[];
}

/** Reads and validates every file the worker needs. Throws ConfigError. */
export function loadIngestSetup(configFiles: readonly string[], cell?: string): IngestSetup {
  const yagi = loadYagiConfig(configFiles, cell === undefined ? {} : { cell });
  const winchester = loadWinchesterConfig(yagi.winchesterConfigFile);
  const distiller = Distiller.fromFile(resolveConfigFile(winchester, 'distiller_config'), { catchAll: winchester.raw.catch_all_notifications });
  return { yagi, winchester, distiller, warnings: [...yagi.warnings, ...winchester.warnings] };
}

