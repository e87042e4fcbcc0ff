/**
 * `stv3 events [--name EVENT_TYPE] [--from DT] [--to DT] [--traits k=v,…] [--count | --msg-id ID]
 * [--limit N] [--all] [--mark M]`: klugman's `events` verb through the API. --from is
 * exclusive, --to inclusive (upstream's from_datetime / to_datetime); several traits are
 * AND-ed. Traits outside winchester.yaml indexed_traits need --from and --to (the API says so).
 */
import type { Command } from 'commander';
import { call, clientFor, withApiOptions, type ApiOptions } from '../api-options.js';
import type { EventJson, EventParams } from '../client.js';
import { CliError, ExitCode } from '../errors.js';
import { cell, print, printJson, table } from '../output.js';
import { parseCount, parseTraitConditions } from '../parse.js';

interface EventOptions extends ApiOptions {
  name?: string;
  from?: string;
  to?: string;
  traits: string[];
  count?: boolean;
  msgId?: string;
  limit: string;
  all?: boolean;
  mark?: string;
}

const ENVELOPE = new Set(['message_id', 'event_type', 'timestamp', '_mark']);

export function registerEvents(program: Command): Command {
  return withApiOptions(program.command('events'))
    .description('list events (klugman’s verb)')
    .option('--name <event_type>', 'exact event type')
    .option('--from <datetime>', 'events after this (exclusive)')
    .option('--to <datetime>', 'events up to this (inclusive)')
    .option('--traits <conditions>', 'name=value or name:int>=N, comma-separated (\\, for a comma in a value), repeatable', (v: string, p: string[]) => [...p, v], [])
    .option('--count', 'print how many events match')
    .option('--msg-id <message_id>', 'one event by message_id')
    .option('--limit <n>', 'rows per page (1-1000)', '200')
    .option('--all', 'follow the pages to the end')
    .option('--mark <mark>', 'start after this _mark (from a previous page)')
    .action(async (opts: EventOptions) => {
      if (opts.count && opts.msgId) throw new CliError('--count and --msg-id cannot be used together', ExitCode.usage);
      const client = clientFor(opts);
      if (opts.msgId !== undefined) {
        const event = await call(client.event(opts.msgId));
        if (opts.json) return printJson(event);
        return print(table(['property', 'value'], Object.keys(event).sort().map((k) => [k, event[k]])));
      }
      const params: EventParams = { eventName: opts.name, from: opts.from, to: opts.to, traits: parseTraitConditions(opts.traits), mark: opts.mark, limit: parseCount(opts.limit, '--limit', 1000) };
      if (opts.count) {
        const n = await call(client.eventsCount(params));
        return opts.json ? printJson([{ count: n }]) : print(table(['count'], [[n]]));
      }
      const rows: EventJson[] = [];
      if (opts.all) {
        await call((async () => {
          for await (const e of client.all((p) => client.events({ ...params, ...p }), params.limit)) rows.push(e);
        })());
      } else rows.push(...(await call(client.events(params))));
      if (opts.json) return printJson(rows);
      print(
        table(
          ['timestamp', 'event_type', 'message_id', 'traits'],
          rows.map((e) => [e.timestamp, e.event_type, e.message_id, Object.keys(e).filter((k) => !ENVELOPE.has(k)).sort().map((k) => `${k}=${cell(e[k])}`).join('; ')]),
        ),
      );
      if (!opts.all && rows.length === params.limit) process.stderr.write(`(more may follow: --all, or --mark ${rows[rows.length - 1]!._mark})\n`);
    });
}
