/**
 * Logs the per-trigger debug dump (spec §4.9) of every trigger with debug_level > 0, one log
 * line per upstream line, each with the trigger's name.
 */
import type { Logger } from 'pino';
import type { TriggerDebugger } from './index.js';

export function logTriggerDebug(triggers: readonly { readonly name: string; readonly debug: TriggerDebugger }[], log: Logger): void {
  for (const t of triggers) {
    for (const line of t.debug.dumpLines()) log.info({ trigger: t.name }, line);
  }
}
