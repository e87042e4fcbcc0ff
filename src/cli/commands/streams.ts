/**
 * Stream verbs. `stv3 streams retry --config winchester.yaml ID…`: error → retry_fire,
 * expire_error → retry_expire (upstream's reset_stream).
 */
import type { Command } from 'commander';
import { createConnection } from 'mysql2/promise';
import { loadWinchesterConfig } from '../../shared/config/winchester-conf.js';
import { retryStream } from '../../shared/store/stream-retry.js';
import { CliError, ExitCode } from '../errors.js';
import { parseId } from '../parse.js';

export function registerStreams(program: Command): Command {
  const streams = program.command('streams').description('streams: list, show, retry');
  streams
    .command('retry')
    .description('an errored stream back to retry: error → retry_fire, expire_error → retry_expire')
    .requiredOption('-c, --config <file>', 'winchester.yaml naming the database')
    .argument('<ids...>', 'stream ids')
    .action(async (ids: string[], opts: { config: string }) => {
      const streamIds = ids.map((id) => parseId(id, 'stream id'));
      const config = loadWinchesterConfig(opts.config);
      const conn = await createConnection(config.database.options);
      let missing = 0;
      try {
        for (const id of streamIds) {
          const state = await retryStream(conn, id);
          if (state === null) {
            missing++;
            process.stderr.write(`stream ${id}: not in error or expire_error (or no such stream); nothing done\n`);
          } else process.stdout.write(`stream ${id}: ${state}\n`);
        }
      } finally {
        await conn.end();
      }
      if (missing > 0) throw new CliError(`${missing} of ${streamIds.length} streams not retried`, ExitCode.notFound);
    });
  return streams;
}
