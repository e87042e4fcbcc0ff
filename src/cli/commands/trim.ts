/**
 * `stv3 trim --config winchester.yaml [--dry-run] [--quarantine AGE] [--max-seconds N] …`:
 * one retention run (store/retention.ts) from cron or pm2 cron, with the settings of
 * winchester.yaml (retention, trim_events_age, trim_completed_streams_age, trim_events_batch_size,
 * trim_pause_ms), whether or not trim_events is on. It takes the same database lock as the
 * pipeline workers: when one of them is trimming, it waits up to --wait seconds (default 0)
 * and otherwise says so and exits 0. --dry-run prints, per event type, what would go and
 * what is kept because a stream not completed holds it, and deletes nothing.
 * Exit codes: 0 done (or nothing to do), 1 error (database, configuration), 2 a bad flag.
 */
import type { Command } from 'commander';
import { loadWinchesterConfig, parseRetentionAge } from '../../shared/config/winchester-conf.js';
import { openDatabase } from '../../shared/db/connect.js';
import { TRIM_NEEDS, unionOfNeeds } from '../../shared/db/server-check.js';
import { CliError, ExitCode } from '../errors.js';
import { createLogger } from '../../shared/logger.js';
import { formatTrimReport, retentionPolicyFrom, runTrim } from '../../shared/store/retention.js';

interface TrimFlags {
  config: string;
  dryRun?: boolean;
  quarantine?: string;
  maxSeconds?: string;
  batchSize?: string;
  pauseMs?: string;
  wait: string;
  json?: boolean;
}

/** A flag's number (usage error, exit 2, otherwise): ≥ min, whole when `integer`. */
function numberFlag(flag: string, value: string | undefined, fallback: number, options: { integer?: boolean; min?: number } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const min = options.min ?? 0;
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (options.integer && !Number.isInteger(n))) {
    throw new CliError(`${flag}: expected a ${options.integer ? 'whole ' : ''}number ≥ ${min}, got "${value}"`, ExitCode.usage);
  }
  return n;
}

export function registerTrim(program: Command): void {
  program
    .command('trim')
    .description('delete events past their retention, old completed streams (and quarantine rows if asked), in small batches')
    .requiredOption('-c, --config <file>', 'winchester.yaml (database, retention settings)')
    .option('--dry-run', 'print what would be deleted, per event type; delete nothing')
    .option('--quarantine <age>', 'also delete quarantine rows received more than AGE ago (e.g. 30d); overrides trim_quarantine_age')
    .option('--max-seconds <n>', 'stop after this long (default: when done)')
    .option('--batch-size <n>', 'rows per delete transaction (default trim_events_batch_size)')
    .option('--pause-ms <n>', 'pause between batches (default trim_pause_ms)')
    .option('--wait <seconds>', 'wait this long for a pipeline worker that is trimming', '0')
    .option('--json', 'print the report as JSON')
    .action(async (opts: TrimFlags) => {
      const config = loadWinchesterConfig(opts.config);
      const raw = config.raw;
      if (opts.quarantine !== undefined) {
        try {
          parseRetentionAge(opts.quarantine);
        } catch (err) {
          throw new CliError(`--quarantine: ${(err as Error).message}`, ExitCode.usage);
        }
      }
      const policy = retentionPolicyFrom(raw, opts.quarantine === undefined ? {} : { quarantineAge: opts.quarantine });
      const batchSize = numberFlag('--batch-size', opts.batchSize, raw.trim_events_batch_size, { integer: true, min: 1 });
      const maxSeconds = numberFlag('--max-seconds', opts.maxSeconds, 365 * 86_400);
      const pauseMs = numberFlag('--pause-ms', opts.pauseMs, raw.trim_pause_ms, { integer: true });
      const wait = numberFlag('--wait', opts.wait, 0);
      const log = createLogger({ base: { app: 'stv3', component: 'trim' }, level: 'warn' });
      const needs = policy.quarantineAge ? unionOfNeeds(TRIM_NEEDS, { quarantine: ['SELECT', 'DELETE'] }) : TRIM_NEEDS;
      const pool = await openDatabase(config.database, 1, log, undefined, { skipLocked: false, privileges: opts.dryRun ? {} : needs });
      try {
        const report = await runTrim(pool, { policy, batchSize, maxSeconds, pauseMs, dryRun: opts.dryRun ?? false, lockWaitSeconds: wait, log });
        process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatTrimReport(report));
      } finally {
        await pool.end();
      }
    });
}
