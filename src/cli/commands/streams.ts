/**
 * Stream verbs, through the API:
 *   stv3 streams [--name TRIGGER] [--from DT] [--to DT] [--traits k=v,…] [--state S] [--details]
 *                [--count | --id ID] [--limit N] [--all] [--mark M]     klugman's `streams`, fixed:
 *                --name is the trigger name, --from/--to select streams active after/before DT
 *                (as klugman's help said), several traits are AND-ed, and pages can be followed
 *   stv3 streams retry ID…     error → retry_fire, expire_error → retry_expire
 *   stv3 streams explain ID…   why it has not fired or expired yet
 *   stv3 streams delete ID…    delete (its events stay)
 */
import type { Command } from 'commander';
import { withApiOptions, call, clientFor, type ApiOptions } from '../api-options.js';
import type { ApiClient, StreamJson, StreamParams } from '../client.js';
import { CliError, ExitCode } from '../errors.js';
import { cell, print, printJson, table } from '../output.js';
import { parseCount, parseId, parseTraitConditions } from '../parse.js';

interface ListOptions extends ApiOptions {
  name?: string;
  from?: string;
  to?: string;
  traits: string[];
  state?: string;
  details?: boolean;
  count?: boolean;
  id?: string;
  limit: string;
  all?: boolean;
  mark?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerStreams(program: Command): Command {
  const streams = withApiOptions(program.command('streams'))
    .description('list streams (klugman’s verb), or retry / explain / delete some')
    .option('--name <trigger>', 'trigger name')
    .option('--from <datetime>', 'streams with events after this (last_event > DT)')
    .option('--to <datetime>', 'streams with events before this (first_event < DT)')
    .option('--traits <conditions>', 'distinguishing traits: name=value or name:int>=N, comma-separated (\\, for a comma in a value), repeatable', collect, [])
    .option('--state <state>', 'active, firing, expiring, error, expire_error, completed, retry_fire, retry_expire')
    .option('--details', 'include each stream’s events')
    .option('--count', 'print how many streams match')
    .option('--id <id>', 'one stream')
    .option('--limit <n>', 'rows per page (1-1000)', '200')
    .option('--all', 'follow the pages to the end')
    .option('--mark <mark>', 'start after this _mark (from a previous page)')
    .action(async (opts: ListOptions) => listStreams(opts));

  // The subcommands repeat --url/--token/--json for their help; commander gives an option
  // written after the subcommand to `streams`, hence optsWithGlobals().
  withApiOptions(streams.command('retry'))
    .description('an errored stream back to retry: error → retry_fire, expire_error → retry_expire')
    .argument('<ids...>', 'stream ids')
    .action(async (ids: string[], _opts: ApiOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ApiOptions>();
      const client = clientFor(opts);
      const results = [];
      for (const id of ids.map((i) => parseId(i, 'stream id'))) results.push(await call(client.resetStream(id)));
      if (opts.json) printJson(results);
      else for (const r of results) print(r.reset ? `stream ${r.id}: ${r.state}` : `stream ${r.id}: ${r.state}, not in error or expire_error: nothing done`);
      const skipped = results.filter((r) => !r.reset).length;
      if (skipped > 0) throw new CliError(`${skipped} of ${results.length} streams not retried`);
    });

  withApiOptions(streams.command('explain'))
    .description('why a stream has not fired or expired yet')
    .argument('<ids...>', 'stream ids')
    .action(async (ids: string[], _opts: ApiOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ApiOptions>();
      const client = clientFor(opts);
      const out = [];
      for (const id of ids.map((i) => parseId(i, 'stream id'))) out.push(await call(client.explainStream(id)));
      if (opts.json) return printJson(out);
      for (const e of out) {
        const criteria = (e['fire_criteria'] as { event_types: string[]; count: number; needed: number; met: boolean }[])
          .map((c) => `${c.count}/${c.needed} ${c.event_types.join(' ')}${c.met ? ' (met)' : ''}`)
          .join('; ');
        print(`stream ${String(e['id'])} (${String(e['name'])}): ${String(e['verdict'])}`);
        print(
          table(
            ['property', 'value'],
            [
              ['state', e['state']],
              ['now', e['now']],
              ['events', e['event_count']],
              ['fire criteria', criteria || 'n/a'],
              ['fire_timestamp', e['fire_timestamp']],
              ['expire_timestamp', e['expire_timestamp']],
              ['lease', e['lease_owner'] ? `${String(e['lease_owner'])} until ${cell(e['lease_expires'])}` : 'none'],
              ['attempts', `${String(e['attempts'])} of ${String(e['max_attempts'])}`],
              ['last_error', e['last_error']],
            ],
          ),
        );
      }
    });

  withApiOptions(streams.command('delete'))
    .description('delete streams (their events stay)')
    .argument('<ids...>', 'stream ids')
    .action(async (ids: string[], _opts: ApiOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ApiOptions>();
      const client = clientFor(opts);
      for (const id of ids.map((i) => parseId(i, 'stream id'))) {
        await call(client.deleteStream(id));
        if (!opts.json) print(`stream ${id}: deleted`);
      }
      if (opts.json) printJson({ deleted: ids.map(Number) });
    });
  return streams;
}

async function listStreams(opts: ListOptions): Promise<void> {
  if (opts.count && opts.id) throw new CliError('--count and --id cannot be used together', ExitCode.usage);
  const client = clientFor(opts);
  if (opts.id) {
    const stream = await call(client.stream(parseId(opts.id, '--id'), opts.details ?? false));
    return opts.json ? printJson([stream]) : printStreams([stream], opts.details ?? false);
  }
  const params: StreamParams = {
    triggerName: opts.name,
    youngerThan: opts.from,
    olderThan: opts.to,
    state: opts.state,
    traits: parseTraitConditions(opts.traits),
    details: opts.details,
    mark: opts.mark,
    limit: parseCount(opts.limit, '--limit', 1000),
  };
  if (opts.count) {
    const n = await call(client.streamsCount(params));
    return opts.json ? printJson([{ count: n }]) : print(table(['count'], [[n]]));
  }
  const rows = await collectRows(client, params, opts.all ?? false);
  if (opts.json) return printJson(rows);
  printStreams(rows, opts.details ?? false);
  if (!opts.all && rows.length === params.limit) process.stderr.write(`(more may follow: --all, or --mark ${rows[rows.length - 1]!._mark})\n`);
}

async function collectRows(client: ApiClient, params: StreamParams, all: boolean): Promise<StreamJson[]> {
  if (!all) return call(client.streams(params));
  const rows: StreamJson[] = [];
  await call(
    (async () => {
      for await (const s of client.all((p) => client.streams({ ...params, ...p }), params.limit)) rows.push(s);
    })(),
  );
  return rows;
}

function traitsText(traits: StreamJson['distinguishing_traits']): string {
  return Object.entries(traits)
    .map(([k, v]) => `${k}=${cell(v)}`)
    .join('; ');
}

function printStreams(streams: readonly StreamJson[], details: boolean): void {
  print(
    table(
      ['id', 'trigger', 'state', 'first_event', 'last_event', 'fire_timestamp', 'expire_timestamp', 'distinguishing traits'],
      streams.map((s) => [s.id, s.name, s.state, s.first_event, s.last_event, s.fire_timestamp, s.expire_timestamp, traitsText(s.distinguishing_traits)]),
    ),
  );
  if (!details) return;
  for (const s of streams) {
    print(`stream ${s.id}: ${s.events?.length ?? 0} events`);
    if (s.events && s.events.length > 0) print(table(['timestamp', 'event_type', 'message_id'], s.events.map((e) => [e.timestamp, e.event_type, e.message_id])));
  }
}
