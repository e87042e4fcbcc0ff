/**
 * `stv3 check --config winchester.yaml [--yagi yagi-<cell>.conf …] [--replay FILE] [--json]`:
 * how an operator tests a definitions change before deploying it. Every configuration file is
 * checked on its own (winchester.yaml, event definitions, pipelines.yaml and its handlers,
 * triggers.yaml, each yagi.conf), and every problem is printed, with file, key (and line where
 * the format has lines) and reason, not only the first. With --replay, what a file of
 * notifications would become (events and traits per type, unmatched types, quarantine reasons,
 * streams per trigger and when they would fire or expire), without touching the database.
 * Exit 0: all good; 1: some file has an error.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadPipelinesConfig, type PipelinesConfig } from '../../shared/config/pipelines-conf.js';
import { loadWinchesterConfig, resolveConfigFile, type WinchesterConfig } from '../../shared/config/winchester-conf.js';
import { loadYagiConfig } from '../../shared/config/yagi-conf.js';
import { Distiller } from '../../shared/distiller/index.js';
import { toError } from '../../shared/errors.js';
import { loadTriggers, type TriggerDefinition } from '../../shared/triggers/index.js';
import { buildPipelines, resolveHandlers } from '../../pipeline-worker/pipelines.js';
import { dryRun, readLines, type DryRunReport } from '../dry-run.js';
import { CliError, ExitCode } from '../errors.js';
import { print, printJson, table } from '../output.js';

interface FileCheck {
  readonly what: string;
  readonly error: string | null;
}

/** Runs `fn`, recording ok or its error under `what`; returns its value or null. */
function attempt<T>(checks: FileCheck[], what: string, fn: () => T): T | null {
  try {
    const value = fn();
    checks.push({ what, error: null });
    return value;
  } catch (err) {
    checks.push({ what, error: toError(err).message });
    return null;
  }
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('validate every configuration file (all errors at once) and, with --replay, show what a file of notifications would become; no database is touched')
    .requiredOption('-c, --config <file>', 'winchester.yaml')
    .option('--yagi <file...>', "yagi.conf files (each cell's), checked too")
    .option('--replay <file>', 'JSON lines of notification bodies (plain or gzip, notigen --to-file or the raw archive)')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; yagi?: string[]; replay?: string; json?: boolean }) => {
      const checks: FileCheck[] = [];
      const winchester = attempt(checks, opts.config, () => loadWinchesterConfig(opts.config));
      let distiller: Distiller | null = null;
      let triggers: TriggerDefinition[] | null = null;
      if (winchester) {
        distiller = attempt(checks, 'event definitions (distiller_config)', () => Distiller.fromFile(resolveConfigFile(winchester, 'distiller_config'), { catchAll: winchester.raw.catch_all_notifications }));
        const pipelines = winchester.raw.pipeline_config ? attempt(checks, 'pipelines (pipeline_config)', () => loadPipelinesConfig(resolveConfigFile(winchester, 'pipeline_config'))) : null;
        triggers = winchester.raw.trigger_definitions ? attempt(checks, 'triggers (trigger_definitions)', () => loadTriggers(winchester, pipelines)) : [];
        if (pipelines) await checkHandlers(checks, winchester, pipelines);
      }
      for (const file of opts.yagi ?? []) attempt(checks, file, () => loadYagiConfig([file]));
      const failed = checks.filter((c) => c.error !== null);

      let report: DryRunReport | null = null;
      if (opts.replay && distiller && triggers) report = await dryRun(readLines(opts.replay), distiller, triggers);

      if (opts.json) printJson({ files: checks, replay: report });
      else {
        for (const c of checks) print(c.error === null ? `ok     ${c.what}` : `ERROR  ${c.what}: ${c.error}`);
        if (report) printReport(report);
        else if (opts.replay) print('replay skipped: the definitions or triggers have errors');
      }
      if (failed.length > 0) throw new CliError(`${failed.length} configuration file${failed.length > 1 ? 's have' : ' has'} errors`, ExitCode.error);
    });
}

/** Every handler of pipelines.yaml resolved and built with its params, as a pipeline worker does at start. */
async function checkHandlers(checks: FileCheck[], winchester: WinchesterConfig, pipelines: PipelinesConfig): Promise<void> {
  const what = 'pipeline handlers (pipeline_handlers and their params)';
  try {
    const handlers = await resolveHandlers(winchester.raw.pipeline_handlers, winchester.file);
    buildPipelines(pipelines, handlers, pino({ level: 'silent' }));
    checks.push({ what, error: null });
  } catch (err) {
    checks.push({ what, error: toError(err).message });
  }
}

function printReport(r: DryRunReport): void {
  print(`\nreplay: ${r.lines} notifications, ${r.events} events, replay clock ends at ${r.endTime ?? 'n/a'}`);
  if (r.eventTypes.length > 0) print(table(['event type', 'events', 'traits'], r.eventTypes.map((t) => [t.eventType, t.events, t.traits.join(' ')])));
  if (r.unmatched.length > 0) print(`\nno definition matched (not stored):\n${table(['event type', 'notifications'], r.unmatched.map((u) => [u.eventType, u.count]))}`);
  if (r.quarantined.length > 0) print(`\nwould be quarantined:\n${table(['reason', 'notifications'], r.quarantined.map((q) => [q.reason, q.count]))}`);
  if (r.triggers.length > 0) {
    print(`\nstreams:\n${table(['trigger', 'streams', 'events', 'ready to fire', 'expired', 'still open'], r.triggers.map((t) => [t.trigger, t.streams, t.events, t.ready, t.expired, t.open]))}`);
    for (const t of r.triggers) {
      if (t.examples.length === 0) continue;
      print(`\n${t.trigger}, first streams:\n${table(['distinguishing key', 'events', 'first', 'last', 'fires at', 'expires at'], t.examples.map((e) => [e.key, e.events, e.first, e.last, e.fire, e.expire]))}`);
    }
  }
}
