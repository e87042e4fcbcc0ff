/**
 * Finding a file that a configuration file names: yagi.conf's `[winchester] config_file`,
 * winchester.yaml's distiller_config, trigger_definitions and pipeline_config.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** Finds a file named in a config: absolute, else relative to the cwd, else to each fallback dir. */
export function locate(name: string, cwd: string, fallbackDirs: readonly string[]): string | null {
  if (isAbsolute(name)) return existsSync(name) ? name : null;
  for (const dir of [cwd, ...fallbackDirs]) {
    const candidate = resolve(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}
