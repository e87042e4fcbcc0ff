/**
 * The sandbox's live status: per cell the notifications taken in (stored, duplicates and
 * quarantined, from the API's GET /v2/status), the events/s between two readings, what still
 * waits in the cell's queue (the broker), the newest event time (the simulated clock); streams
 * by state and pipeline runs (streams completed or errored) per second; the pm2 processes with
 * their restarts and memory. On a terminal it redraws in place; otherwise one plain line per
 * reading.
 */
import { connect } from 'amqplib';
import type { SandboxState } from './deployment.js';
import { pm2List, type Pm2Process } from './pm2.js';

interface CellStatus {
  cell: string;
  events_stored: number;
  duplicates: number;
  quarantined: number;
  last_event_at: unknown;
}

interface ApiStatus {
  now: unknown;
  cells: CellStatus[];
  streams_by_state: Record<string, number>;
  quarantine: { total: number };
  errors: { streams_errored: number };
}

/** One reading of everything shown. */
export interface Reading {
  readonly at: number;
  readonly api: ApiStatus | null;
  readonly apiError: string | null;
  /** Messages waiting per cell; null when the broker did not say. */
  readonly queued: Readonly<Record<string, number | null>>;
  readonly processes: readonly Pm2Process[];
}

export async function readStatus(state: SandboxState): Promise<Reading> {
  const [api, queued, processes] = await Promise.all([readApi(state.apiUrl), readQueues(state), pm2List().catch(() => [])]);
  const mine = new Set(state.apps);
  const order = (name: string): number => state.apps.indexOf(name);
  return { at: Date.now(), api: api.status, apiError: api.error, queued, processes: processes.filter((p) => mine.has(p.name)).sort((a, b) => order(a.name) - order(b.name)) };
}

async function readApi(url: string): Promise<{ status: ApiStatus | null; error: string | null }> {
  try {
    const res = await fetch(`${url}/v2/status`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return { status: null, error: `${res.status} ${(await res.text()).slice(0, 200)}` };
    return { status: (await res.json()) as ApiStatus, error: null };
  } catch (err) {
    return { status: null, error: (err as Error).message };
  }
}

async function readQueues(state: SandboxState): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  await Promise.all(
    state.layout.cells.map(async (c) => {
      out[c.name] = null;
      try {
        const conn = await connect(c.url, { timeout: 2000 });
        try {
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          out[c.name] = (await ch.checkQueue(c.queue)).messageCount;
        } finally {
          await conn.close().catch(() => undefined);
        }
      } catch {
        // queue not declared yet, or the broker is away: shown as "?"
      }
    }),
  );
  return out;
}

function datetime(v: unknown): string {
  if (v && typeof v === 'object' && 'datetime' in v) return String((v as { datetime: unknown }).datetime).slice(0, 19);
  return typeof v === 'string' ? v.slice(0, 19) : '-';
}

function totals(r: Reading): { in: number; runs: number } {
  const cells = r.api?.cells ?? [];
  const s = r.api?.streams_by_state ?? {};
  return { in: cells.reduce((n, c) => n + c.events_stored + c.duplicates + c.quarantined, 0), runs: (s['completed'] ?? 0) + (s['error'] ?? 0) + (s['expire_error'] ?? 0) };
}

function perSecond(now: number, before: number, ms: number): string {
  return ms > 0 ? ((now - before) / (ms / 1000)).toFixed(1) : '0.0';
}

function eventsPerSecond(current: Reading, previous: Reading | null, cell: string): string {
  const now = current.api?.cells.find((c) => c.cell === cell)?.events_stored ?? 0;
  const before = previous?.api?.cells.find((c) => c.cell === cell)?.events_stored ?? now;
  return perSecond(now, before, previous ? current.at - previous.at : 0);
}

function pad(cells: readonly (string | number)[][]): string[] {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => String(row[i] ?? '').length)));
  return cells.map((row) => row.map((v, i) => String(v).padEnd(widths[i]!)).join('  ').trimEnd());
}

/** The full screen for a terminal. */
export function renderScreen(state: SandboxState, current: Reading, previous: Reading | null): string {
  const p = state.prefix;
  const lines: string[] = [];
  const api = current.api;
  lines.push(`StackTach.v3 sandbox: ${state.layout.cells.length} cells, database ${state.database}, API ${state.apiUrl}   ${new Date(current.at).toISOString().slice(11, 19)} UTC`);
  lines.push('');
  if (!api) {
    lines.push(`API not answering yet (${current.apiError ?? '?'}); it starts with the workers.`);
  } else {
    lines.push(
      ...pad([
        ['cell', 'notifications in', 'events stored', 'events/s', 'waiting in queue', 'quarantined', 'newest event (simulated)'],
        ...state.layout.cells.map((c) => {
          const s = api.cells.find((x) => x.cell === c.name);
          const q = current.queued[c.name];
          return [c.name, s ? s.events_stored + s.duplicates + s.quarantined : 0, s?.events_stored ?? 0, eventsPerSecond(current, previous, c.name), q ?? '?', s?.quarantined ?? 0, datetime(s?.last_event_at)];
        }),
      ]),
    );
    lines.push('');
    const states = Object.entries(api.streams_by_state).filter(([, n]) => n > 0);
    lines.push(`streams: ${states.length ? states.map(([k, n]) => `${k} ${n}`).join(', ') : 'none yet (the first fire after the first simulated midnight)'}`);
    const t = totals(current);
    lines.push(`pipeline runs: ${t.runs} (${perSecond(t.runs, previous ? totals(previous).runs : t.runs, previous ? current.at - previous.at : 0)}/s); errored streams: ${api.errors.streams_errored}; quarantine: ${api.quarantine.total}`);
  }
  lines.push('');
  lines.push(
    ...pad([
      ['process', 'status', 'restarts', 'cpu %', 'memory'],
      ...current.processes.map((x) => [x.name, x.status, x.restarts, x.cpu, `${Math.round(x.memory / 1048576)} MB`]),
    ]),
  );
  const missing = state.apps.filter((a) => !current.processes.some((x) => x.name === a));
  if (missing.length > 0) lines.push(`not running: ${missing.join(', ')}`);
  lines.push('');
  lines.push(`logs:   npx pm2 logs ${p}-yagi-${state.layout.cells[0]!.name}    npx pm2 logs '/^${p}-/'    npx pm2 ls`);
  lines.push(`query:  STV3_API_URL=${state.apiUrl} node dist/cli/main.js streams --state completed --limit 5    (or: … status --watch)`);
  lines.push('Ctrl-C leaves the sandbox running; `npm run sandbox -- --stop` stops it, `-- --reset` also drops its data.');
  return lines.join('\n');
}

/** One plain line (not a terminal). */
export function renderLine(state: SandboxState, current: Reading, previous: Reading | null): string {
  const api = current.api;
  const online = current.processes.filter((x) => x.status === 'online').length;
  const procs = `processes ${online}/${current.processes.length} online`;
  if (!api) return `sandbox: API not answering (${current.apiError ?? '?'}); ${procs}`;
  const cells = state.layout.cells
    .map((c) => {
      const s = api.cells.find((x) => x.cell === c.name);
      return `${c.name} in ${s ? s.events_stored + s.duplicates + s.quarantined : 0} stored ${s?.events_stored ?? 0} (${eventsPerSecond(current, previous, c.name)}/s) queued ${current.queued[c.name] ?? '?'} quarantined ${s?.quarantined ?? 0}`;
    })
    .join('; ');
  const states = Object.entries(api.streams_by_state)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return `sandbox: ${cells}; streams ${states || 'none'}; pipeline runs ${totals(current).runs}; errored ${api.errors.streams_errored}; ${procs}`;
}
