#!/usr/bin/env node
/**
 * `stv3`: the operators' command line (commander). Each verb group lives in commands/ and
 * registers itself here. Exit codes: 0 done, 1 error, 2 usage, 3 not found (errors.ts).
 * Configuration errors print file, key and reason, as the workers do.
 */
import { Command, CommanderError } from 'commander';
import { toError } from '../shared/errors.js';
import { registerAdmin } from './commands/admin.js';
import { registerCheck } from './commands/check.js';
import { registerEvents } from './commands/events.js';
import { registerNotigen } from './commands/notigen.js';
import { registerQuarantine } from './commands/quarantine.js';
import { registerStatus } from './commands/status.js';
import { registerStreams } from './commands/streams.js';
import { registerTrim } from './commands/trim.js';
import { CliError, ExitCode } from './errors.js';

export function buildProgram(): Command {
  const program = new Command('stv3')
    .description('StackTach.v3 in TypeScript: operators’ command line')
    .showHelpAfterError()
    .exitOverride();
  registerAdmin(program);
  registerStreams(program);
  registerEvents(program);
  registerQuarantine(program);
  registerStatus(program);
  registerCheck(program);
  registerNotigen(program);
  registerTrim(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version end here too, with code 0
      process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    const e = toError(err);
    process.stderr.write(`stv3: ${e.name === 'ConfigError' ? 'configuration error: ' : ''}${e.message}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : ExitCode.error;
  }
}

await main();
