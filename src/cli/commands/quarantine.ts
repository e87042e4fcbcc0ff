/**
 * `stv3 quarantine list|show|replay|delete`, through the API:
 *   list [--cell C] [--from DT] [--to DT] [--count] [--limit N] [--all]
 *   show ID                   one message: reason, properties and body (JSON pretty-printed)
 *   replay ID… | --all [--cell C]   re-ingest after a definition fix; per id: stored,
 *                             duplicate, poison (reason) or not_found. Exit 1 if any is poison.
 *   delete ID…
 */
import type { Command } from 'commander';
import { call, clientFor, withApiOptions, type ApiOptions } from '../api-options.js';
import type { ApiClient, QuarantineJson, QuarantineParams, ReplayResultJson } from '../client.js';
import { CliError, ExitCode } from '../errors.js';
import { print, printJson, table } from '../output.js';
import { parseCount, parseId } from '../parse.js';

interface ListOptions extends ApiOptions {
  cell?: string;
  from?: string;
  to?: string;
  count?: boolean;
  limit: string;
  all?: boolean;
}

async function allRows(client: ApiClient, params: QuarantineParams): Promise<QuarantineJson[]> {
  const rows: QuarantineJson[] = [];
  for await (const q of client.all((p) => client.quarantine({ ...params, ...p }), params.limit ?? 1000)) rows.push(q);
  return rows;
}

export function registerQuarantine(program: Command): Command {
  const quarantine = program.command('quarantine').description('messages that could not be stored: list, show, replay, delete');

  withApiOptions(quarantine.command('list'))
    .description('list quarantined messages, newest first')
    .option('--cell <cell>', 'only this cell')
    .option('--from <datetime>', 'received after this')
    .option('--to <datetime>', 'received up to this')
    .option('--count', 'print how many there are')
    .option('--limit <n>', 'rows per page (1-1000)', '200')
    .option('--all', 'follow the pages to the end')
    .action(async (opts: ListOptions) => {
      const client = clientFor(opts);
      const params: QuarantineParams = { cell: opts.cell, from: opts.from, to: opts.to, limit: parseCount(opts.limit, '--limit', 1000) };
      if (opts.count) {
        const n = await call(client.quarantineCount(params));
        return opts.json ? printJson([{ count: n }]) : print(table(['count'], [[n]]));
      }
      const rows = await call(opts.all ? allRows(client, params) : client.quarantine(params));
      if (opts.json) return printJson(rows);
      print(table(['id', 'received_at', 'cell', 'queue', 'event_type', 'message_id', 'bytes', 'reason'], rows.map((q) => [q.id, q.received_at, q.cell, q.queue, q.event_type, q.message_id, q.body_size, q.reason])));
    });

  withApiOptions(quarantine.command('show'))
    .description('one quarantined message with its body')
    .argument('<id>', 'quarantine id')
    .action(async (id: string, opts: ApiOptions) => {
      const q = await call(clientFor(opts).quarantined(parseId(id, 'quarantine id')));
      if (opts.json) return printJson(q);
      print(table(['property', 'value'], [['id', q.id], ['received_at', q.received_at], ['cell', q.cell], ['queue', q.queue], ['reason', q.reason], ['message_id', q.message_id], ['event_type', q.event_type], ['body_size', q.body_size], ['body_truncated', q.body_truncated], ['properties', q.properties === null ? null : JSON.stringify(q.properties)]]));
      print(`body (${q.body_encoding}):`);
      print(q.body_encoding === 'utf-8' ? prettyBody(q.body ?? '') : (q.body ?? ''));
    });

  withApiOptions(quarantine.command('replay'))
    .description('re-ingest quarantined messages (after fixing event_definitions.yaml); idempotent')
    .argument('[ids...]', 'quarantine ids')
    .option('--all', 'every quarantined message (of --cell)')
    .option('--cell <cell>', 'with --all: only this cell')
    .action(async (ids: string[], opts: ApiOptions & { all?: boolean; cell?: string }) => {
      const client = clientFor(opts);
      if ((ids.length === 0) === !opts.all) throw new CliError('give quarantine ids, or --all', ExitCode.usage);
      const targets = opts.all ? (await call(allRows(client, { cell: opts.cell, limit: 1000 }))).map((q) => q.id) : ids.map((i) => parseId(i, 'quarantine id'));
      const results: ReplayResultJson[] = [];
      for (let i = 0; i < targets.length; i += 1000) results.push(...(await call(client.replay(targets.slice(i, i + 1000)))));
      if (opts.json) printJson(results);
      else print(table(['id', 'outcome', 'detail'], results.map((r) => [r.id, r.outcome, 'reason' in r ? r.reason : 'message_id' in r ? `${r.event_type} ${r.message_id}` : ''])));
      const poison = results.filter((r) => r.outcome === 'poison').length;
      if (poison > 0) throw new CliError(`${poison} of ${results.length} still fail; they stay in quarantine with the new reason`);
      if (results.some((r) => r.outcome === 'not_found')) throw new CliError('some ids are not in quarantine (replayed or deleted already?)', ExitCode.notFound);
    });

  withApiOptions(quarantine.command('delete'))
    .description('forget quarantined messages')
    .argument('<ids...>', 'quarantine ids')
    .action(async (ids: string[], opts: ApiOptions) => {
      const client = clientFor(opts);
      for (const id of ids.map((i) => parseId(i, 'quarantine id'))) {
        await call(client.deleteQuarantined(id));
        if (!opts.json) print(`quarantine ${id}: deleted`);
      }
      if (opts.json) printJson({ deleted: ids.map(Number) });
    });
  return quarantine;
}

/** Pretty-prints a JSON body (and an oslo envelope's inner message); other text as is. */
function prettyBody(body: string): string {
  try {
    const outer = JSON.parse(body) as Record<string, unknown>;
    if (typeof outer['oslo.message'] === 'string') outer['oslo.message'] = JSON.parse(outer['oslo.message']) as unknown;
    return JSON.stringify(outer, null, 2);
  } catch {
    return body;
  }
}
