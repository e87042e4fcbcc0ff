/**
 * `stv3 status [--watch] [--interval 2] [--json]`: per cell the last ingest and event times and
 * the ingest rate (events stored per second between two readings `--interval` seconds apart);
 * streams by state; the oldest due stream; the quarantine's size; errored streams. `--watch`
 * redraws in place every interval until interrupted.
 *
 * `stv3 status --inventory hosts.yml`: the same across a region, from the processes themselves
 * (fleet-status.ts): per host and cell, process up or down (with the reason), ingest rate,
 * deliveries waiting, stored / quarantined, database retries, pipeline runs and errors, and
 * streams by state from the first API that answers. Exit code 1 when a process is down.
 */
import type { Command } from 'commander';
import { call, clientFor, withApiOptions, type ApiOptions } from '../api-options.js';
import type { ApiClient, Json } from '../client.js';
import { CliError, ExitCode } from '../errors.js';
import { readFleetStatus, readInventory, type FleetStatus } from '../fleet-status.js';
import { age, cell, printJson, table } from '../output.js';

interface StatusJson {
  now: { datetime: string };
  cells: { cell: string; events_stored: number; duplicates: number; quarantined: number; last_ingest_at: Json; last_event_at: Json }[];
  streams_by_state: Record<string, number>;
  oldest_due: { kind: string; id: number; name: string; state: string; due: Json; age_seconds: number } | null;
  quarantine: { total: number; by_cell: { cell: string; count: number }[] };
  errors: { streams_errored: number };
}

interface Reading {
  readonly status: StatusJson;
  readonly at: number;
}

async function read(client: ApiClient): Promise<Reading> {
  return { status: (await call(client.status())) as unknown as StatusJson, at: Date.now() };
}

/** Events/s per cell between two readings. */
function rates(previous: Reading, current: Reading): Map<string, number> {
  const seconds = (current.at - previous.at) / 1000;
  const before = new Map(previous.status.cells.map((c) => [c.cell, c.events_stored]));
  return new Map(current.status.cells.map((c) => [c.cell, seconds > 0 ? (c.events_stored - (before.get(c.cell) ?? c.events_stored)) / seconds : 0]));
}

function secondsSince(now: string, then: Json): number | null {
  const t = then && typeof then === 'object' && !Array.isArray(then) ? then['datetime'] : null;
  return typeof t === 'string' ? (Date.parse(`${now}Z`) - Date.parse(`${t}Z`)) / 1000 : null;
}

function render(r: Reading, rate: Map<string, number>): string {
  const s = r.status;
  const now = s.now.datetime;
  const quarantineByCell = new Map(s.quarantine.by_cell.map((q) => [q.cell, q.count]));
  const lines = [
    `stv3 status at ${cell(s.now as unknown as Json)} UTC`,
    table(
      ['cell', 'events stored', 'events/s', 'last ingest', 'ago', 'newest event time', 'quarantined now'],
      s.cells.map((c) => [c.cell, c.events_stored, (rate.get(c.cell) ?? 0).toFixed(1), c.last_ingest_at, age(secondsSince(now, c.last_ingest_at)), c.last_event_at, quarantineByCell.get(c.cell) ?? 0]),
    ),
    table(Object.keys(s.streams_by_state), [Object.values(s.streams_by_state)]),
    `oldest due stream: ${s.oldest_due ? `${s.oldest_due.id} (${s.oldest_due.name}, ${s.oldest_due.state}, due to ${s.oldest_due.kind} since ${cell(s.oldest_due.due)}, waiting ${age(s.oldest_due.age_seconds)})` : 'none'}`,
    `quarantine: ${s.quarantine.total} messages${s.quarantine.by_cell.length > 0 ? ` (${s.quarantine.by_cell.map((q) => `${q.cell} ${q.count}`).join(', ')})` : ''}`,
    `errored streams: ${s.errors.streams_errored}${s.errors.streams_errored > 0 ? ' (stv3 streams --state error; stv3 streams explain ID; stv3 streams retry ID)' : ''}`,
  ];
  return lines.join('\n');
}

const num = (v: number | null, digits = 0): string => (v === null ? '' : v.toFixed(digits));

function renderFleet(f: FleetStatus): string {
  const down = f.apps.filter((a) => !a.up).length;
  const rows = f.apps.map((a) => [
    a.host,
    a.app,
    a.up ? (a.health && a.health !== 'ok' ? `up, unhealthy: ${a.health}` : a.ingest_paused ? 'up, ingest paused' : 'up') : `DOWN: ${a.reason}`,
    num(a.ingest_rate, 1),
    num(a.waiting),
    num(a.stored),
    num(a.quarantined),
    num(a.db_retries),
    a.runs_completed === null ? '' : `${a.runs_completed} / ${a.runs_failed ?? 0}`,
  ]);
  const s = f.streams;
  return [
    `stv3 status of ${f.apps.length} processes (${down === 0 ? 'all up' : `${down} down`}), rates over ${f.interval_seconds.toFixed(1)} s`,
    table(['host', 'process', 'state', 'events/s', 'waiting', 'stored', 'quarantined', 'db retries', 'runs ok / error'], rows),
    s.source === null
      ? 'streams: no API answered'
      : `streams by state (${s.source}): ${Object.entries(s.by_state).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; errored ${s.errored ?? 0}; quarantine ${Object.entries(s.quarantine).map(([k, v]) => `${k} ${v}`).join(', ') || '0'}`,
  ].join('\n');
}

export function registerStatus(program: Command): Command {
  return withApiOptions(program.command('status'))
    .description('per cell ingest, streams by state, oldest due stream, quarantine, errors')
    .option('--watch', 'refresh in place until interrupted')
    .option('--interval <seconds>', 'seconds between the readings the rate is measured over', '2')
    .option('--inventory <file>', "every host and cell of the Ansible inventory (deploy/ansible), from the processes' /metrics and /health")
    .action(async (opts: ApiOptions & { watch?: boolean; interval: string; inventory?: string }) => {
      const interval = Number(opts.interval);
      if (!(interval > 0 && interval <= 3600)) {
        throw new CliError(`--interval must be a number of seconds from 0 to 3600, got "${opts.interval}"`, ExitCode.usage);
      }
      if (opts.inventory !== undefined) {
        const inventory = readInventory(opts.inventory);
        for (;;) {
          const fleet = await readFleetStatus(inventory, interval);
          if (opts.json) printJson(fleet);
          else process.stdout.write(`${opts.watch ? '\x1b[H\x1b[2J' : ''}${renderFleet(fleet)}\n`);
          if (!opts.watch) {
            if (fleet.apps.some((a) => !a.up)) process.exitCode = ExitCode.error;
            return;
          }
        }
      }
      const client = clientFor(opts);
      let previous = await read(client);
      for (;;) {
        await new Promise((r) => setTimeout(r, interval * 1000));
        const current = await read(client);
        const rate = rates(previous, current);
        if (opts.json) printJson({ ...current.status, ingest_rate: Object.fromEntries(rate), rate_interval_seconds: (current.at - previous.at) / 1000 });
        else process.stdout.write(`${opts.watch ? '\x1b[H\x1b[2J' : ''}${render(current, rate)}\n`);
        if (!opts.watch) return;
        previous = current;
      }
    });
}
