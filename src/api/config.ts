/**
 * What an API node reads at start (spec §7.1): winchester.yaml directly, or upstream's
 * quincy.conf (INI) naming it:
 *
 *   [global]
 *   enabled_versions = 1,2
 *   [quince]
 *   winchester_config = /etc/stv3/winchester.yaml
 *
 * then the files winchester.yaml names: triggers.yaml (for /explain) and event_definitions.yaml
 * (for quarantine replay; without distiller_config, replay answers 503). The mutation token
 * comes from STV3_API_TOKEN, else winchester.yaml `api_token`, else the first line of
 * `api_token_file`. Any problem is a ConfigError naming file, key and reason.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseIni } from '../shared/config/ini.js';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../shared/config/winchester-conf.js';
import { Distiller } from '../shared/distiller/index.js';
import { ConfigError } from '../shared/errors.js';
import { loadPipelinesOf, loadTriggers, type TriggerDefinition } from '../shared/triggers/index.js';

export interface ApiConfig {
  readonly winchester: WinchesterConfig;
  /** API versions served: 1 and/or 2. */
  readonly versions: readonly (1 | 2)[];
  /** Bearer token for mutating routes; null: none required. */
  readonly token: string | null;
  readonly readOnly: boolean;
  /** Replaced in place by a SIGHUP reload (reloadDefinitions). */
  triggers: readonly TriggerDefinition[];
  /** null: winchester.yaml names no distiller_config, so replay is unavailable. Replaced by a SIGHUP reload. */
  distiller: Distiller | null;
  readonly warnings: readonly string[];
}

/** Reads `file` (winchester.yaml or quincy.conf). Throws ConfigError. */
export function loadApiConfig(file: string, env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, '', `cannot read: ${(err as Error).message}`);
  }
  let versions: (1 | 2)[] = [1, 2];
  let winchesterFile = path;
  if (/^\s*(#.*\n\s*)*\[/.test(text)) {
    const ini = parseIni(text, path);
    const quince = ini.sections.get('quince');
    const configured = quince?.get('winchester_config');
    if (!configured) throw new ConfigError(path, '[quince] winchester_config', 'required: the winchester.yaml the API reads');
    const candidate = resolve(configured.value);
    winchesterFile = candidate;
    try {
      readFileSync(candidate);
    } catch {
      winchesterFile = resolve(dirname(path), configured.value);
    }
    const enabled = ini.sections.get('global')?.get('enabled_versions');
    if (enabled) {
      const list = enabled.value.split(',').map((v) => v.trim()).filter((v) => v !== '');
      const bad = list.find((v) => v !== '1' && v !== '2');
      if (bad !== undefined || list.length === 0) throw new ConfigError(path, `[global] enabled_versions (line ${enabled.line})`, `expected a list of 1 and/or 2, got ${JSON.stringify(enabled.value)}`);
      versions = [...new Set(list.map((v) => Number(v) as 1 | 2))].sort();
    }
  }
  const winchester = loadWinchesterConfig(winchesterFile, { env });
  const raw = winchester.raw;
  const token = readToken(winchester, env);
  const triggers = loadTriggers(winchester, loadPipelinesOf(winchester));
  const distiller = raw.distiller_config ? Distiller.fromFile(resolveConfigFile(winchester, 'distiller_config'), { catchAll: raw.catch_all_notifications }) : null;
  const warnings = [...winchester.warnings, ...triggers.flatMap((t) => t.warnings)];
  if (!distiller) warnings.push(`${winchester.file}: no distiller_config: quarantine replay is unavailable`);
  return { winchester, versions, token, readOnly: raw.api_read_only, triggers, distiller, warnings };
}

function readToken(winchester: WinchesterConfig, env: NodeJS.ProcessEnv): string | null {
  const fromEnv = env['STV3_API_TOKEN'];
  if (fromEnv) {
    if (fromEnv.length < 16) throw new ConfigError('environment', 'STV3_API_TOKEN', 'at least 16 characters');
    return fromEnv;
  }
  const raw = winchester.raw;
  if (raw.api_token && raw.api_token_file) throw new ConfigError(winchester.file, 'api_token_file', 'give api_token or api_token_file, not both');
  if (raw.api_token) return raw.api_token;
  if (!raw.api_token_file) return null;
  const file = resolve(dirname(winchester.file), raw.api_token_file);
  let token: string;
  try {
    token = (readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '').trim();
  } catch (err) {
    throw new ConfigError(winchester.file, 'api_token_file', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (token.length < 16) throw new ConfigError(winchester.file, 'api_token_file', `${file}: the token (first line) must have at least 16 characters`);
  return token;
}

/**
 * A SIGHUP reload: `current` (the object the routes read) takes the event definitions and
 * triggers of `next`, a fresh loadApiConfig of the same file; what else changed (listen
 * address, token, versions, database) takes a restart. Returns what is now in force, for the log.
 */
export function reloadDefinitions(current: ApiConfig, next: ApiConfig): string {
  current.triggers = next.triggers;
  current.distiller = next.distiller;
  return `${next.triggers.length} triggers, ${next.distiller ? 'event definitions' : 'no distiller_config'} (for replay and explain; other settings take a restart)`;
}
