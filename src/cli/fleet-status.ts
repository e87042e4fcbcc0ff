/**
 * `stv3 status --inventory FILE`: the state of a region's processes, read from the Ansible
 * inventory that deployed them (deploy/ansible) and the endpoints they serve (upstream's
 * stv3_status.py went over ssh; spec §9):
 * - every worker host: each cell's yagi-worker (`/health`, `/metrics` on metrics_port_base + i)
 *   and each pipeline worker (base + 100 + k): up or down with the reason, ingest rate
 *   (notifications committed per second between two scrapes `intervalSeconds` apart), the
 *   deliveries waiting in the worker (its share of the queue), totals stored / quarantined,
 *   database retries, ingest paused, pipeline runs and errors;
 * - the API hosts' `/metrics`: streams by state, errored streams, quarantine (the first API that
 *   answers; every API is listed up or down).
 * An unreachable host or process is "down" with the reason (refused, timed out, name not
 * found, metrics only on 127.0.0.1), never an error of the command.
 *
 * The inventory is read as Ansible would for the variables used here (a YAML inventory, with
 * group_vars/ and host_vars/ next to it): ansible_host, stv3_cells, stv3_metrics_port_base,
 * stv3_metrics_host, stv3_pipeline_workers, stv3_api_port, stv3_api_host. Jinja in them is not
 * evaluated.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { sleep } from '../shared/backoff.js';
import { CliError, ExitCode } from './errors.js';

type Vars = Record<string, unknown>;

export interface InventoryHost {
  readonly name: string;
  readonly vars: Vars;
}

export interface FleetInventory {
  readonly workers: readonly InventoryHost[];
  readonly api: readonly InventoryHost[];
}

interface GroupNode {
  hosts?: Record<string, Vars | null> | null;
  children?: Record<string, GroupNode | null> | null;
  vars?: Vars | null;
}

function yamlFile(file: string): Vars {
  if (!existsSync(file)) return {};
  const v = parse(readFileSync(file, 'utf8')) as unknown;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Vars) : {};
}

/**
 * Reads the hosts of stv3_workers and stv3_api with their variables (group_vars/all.yml < the
 * inventory's all.vars < group_vars/<group>.yml < the group's vars < host_vars/<host>.yml <
 * the host's own). Errors: a file that is not a YAML inventory (CliError, usage).
 */
export function readInventory(file: string): FleetInventory {
  if (!existsSync(file)) throw new CliError(`--inventory: ${file} not found`, ExitCode.usage);
  let root: Record<string, GroupNode | null>;
  try {
    root = parse(readFileSync(file, 'utf8')) as Record<string, GroupNode | null>;
  } catch (err) {
    throw new CliError(`--inventory: ${file}: not YAML: ${(err as Error).message}`, ExitCode.usage);
  }
  if (!root || typeof root !== 'object' || !root['all']) throw new CliError(`--inventory: ${file}: expected a YAML inventory with "all:" (as deploy/ansible/inventory/example/hosts.yml)`, ExitCode.usage);
  const dir = dirname(file);
  const groupVars = (g: string): Vars => ({ ...yamlFile(join(dir, 'group_vars', `${g}.yml`)), ...yamlFile(join(dir, 'group_vars', `${g}.yaml`)) });
  const hostVars = (h: string): Vars => ({ ...yamlFile(join(dir, 'host_vars', `${h}.yml`)), ...yamlFile(join(dir, 'host_vars', `${h}.yaml`)) });
  const all = root['all'];
  const base: Vars = { ...groupVars('all'), ...(all.vars ?? {}) };
  const topHosts: Record<string, Vars> = Object.fromEntries(Object.entries(all.hosts ?? {}).map(([h, v]) => [h, v ?? {}]));

  const hostsOf = (group: string): InventoryHost[] => {
    const found = new Map<string, Vars>();
    const walk = (name: string, node: GroupNode | null | undefined, inherited: Vars, inside: boolean): void => {
      if (!node) return;
      const vars = inside ? { ...inherited, ...groupVars(name), ...(node.vars ?? {}) } : inherited;
      if (inside) for (const [h, v] of Object.entries(node.hosts ?? {})) found.set(h, { ...vars, ...(topHosts[h] ?? {}), ...hostVars(h), ...(v ?? {}) });
      for (const [child, sub] of Object.entries(node.children ?? {})) walk(child, sub, vars, inside || child === group);
    };
    walk('all', all, base, false);
    return [...found].map(([name, vars]) => ({ name, vars }));
  };
  return { workers: hostsOf('stv3_workers'), api: hostsOf('stv3_api') };
}

/** Prometheus text format → samples (name, labels, value). */
export function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (samples: ReturnType<typeof parseMetrics>, name: string, where: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

const LOOPBACK = /^(127\.|localhost$|::1$)/;
const WILDCARD = /^(0\.0\.0\.0|::|\*)$/;

/** The address to reach a host's endpoint on, or why it cannot be reached from here. */
function addressOf(host: InventoryHost, bind: unknown): { address: string } | { reason: string } {
  const address = String(host.vars['ansible_host'] ?? host.name);
  const listen = typeof bind === 'string' && bind !== '' ? bind : '127.0.0.1';
  if (WILDCARD.test(listen)) return { address };
  if (LOOPBACK.test(listen) && !LOOPBACK.test(address)) return { reason: `listens on ${listen} only (set stv3_metrics_host to an address this machine reaches)` };
  return { address: listen };
}

interface Probe {
  readonly up: boolean;
  readonly reason?: string;
  readonly health?: string;
  readonly samples?: ReturnType<typeof parseMetrics>;
}

/** fetch's failure as a short reason: `ECONNREFUSED 127.0.0.2:9400`, `ENOTFOUND db1`, `timed out`. */
function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  return e.cause?.message ?? e.message ?? String(err);
}

async function probe(url: string, timeoutMs: number, withHealth: boolean): Promise<Probe> {
  try {
    const metrics = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!metrics.ok) return { up: false, reason: `/metrics answered ${metrics.status}` };
    const samples = parseMetrics(await metrics.text());
    if (!withHealth) return { up: true, samples };
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return { up: true, samples, health: health.ok ? 'ok' : `${health.status} ${(await health.text()).slice(0, 200)}` };
  } catch (err) {
    return { up: false, reason: reasonOf(err) };
  }
}

export interface AppStatus {
  host: string;
  app: string;
  cell: string | null;
  url: string | null;
  up: boolean;
  reason: string | null;
  health: string | null;
  ingest_rate: number | null;
  waiting: number | null;
  stored: number | null;
  quarantined: number | null;
  db_retries: number | null;
  ingest_paused: boolean | null;
  runs_completed: number | null;
  runs_failed: number | null;
  lost_leases: number | null;
}

export interface FleetStatus {
  apps: AppStatus[];
  streams: { source: string | null; by_state: Record<string, number>; errored: number | null; quarantine: Record<string, number> };
  interval_seconds: number;
}

interface Target {
  host: string;
  app: string;
  cell: string | null;
  kind: 'yagi' | 'pipeline' | 'api';
  url: string | null;
  reason: string | null;
  /** Listed only if it answers (pipeline workers counted by cores: the count is not in the inventory). */
  optional: boolean;
}

function targetsOf(inv: FleetInventory): Target[] {
  const targets: Target[] = [];
  for (const host of inv.workers) {
    const cells = Array.isArray(host.vars['stv3_cells']) ? (host.vars['stv3_cells'] as { name?: unknown }[]).map((c) => String(c?.name)) : [];
    const base = Number(host.vars['stv3_metrics_port_base'] ?? 0);
    const at = addressOf(host, host.vars['stv3_metrics_host']);
    const off = !(Number.isInteger(base) && base > 0) ? 'no metrics endpoint (stv3_metrics_port_base is not set)' : null;
    const url = (port: number): string | null => (off || !('address' in at) ? null : `http://${at.address.includes(':') ? `[${at.address}]` : at.address}:${port}`);
    const reason = off ?? ('reason' in at ? at.reason : null);
    cells.forEach((cell, i) => targets.push({ host: host.name, app: `yagi-${cell}`, cell, kind: 'yagi', url: url(base + i), reason, optional: false }));
    const count = Number(host.vars['stv3_pipeline_workers']);
    const workers = Number.isInteger(count) && count >= 0 ? count : 16; // one per core: probe up to 16, list those that answer
    const counted = Number.isInteger(count) && count >= 0;
    for (let k = 0; k < workers; k++) targets.push({ host: host.name, app: `pipeline-worker ${k}`, cell: null, kind: 'pipeline', url: url(base + 100 + k), reason, optional: !counted && k > 0 });
  }
  for (const host of inv.api) {
    const at = addressOf(host, host.vars['stv3_api_host'] ?? '0.0.0.0');
    const port = Number(host.vars['stv3_api_port'] ?? 8000);
    targets.push({ host: host.name, app: 'api', cell: null, kind: 'api', url: 'address' in at ? `http://${at.address}:${port}` : null, reason: 'reason' in at ? at.reason : null, optional: false });
  }
  return targets;
}

/**
 * Scrapes every process of the inventory twice, `intervalSeconds` apart (for the rates).
 * Never throws for a host that does not answer: its rows say down and why.
 */
export async function readFleetStatus(inv: FleetInventory, intervalSeconds: number, timeoutMs = 3000): Promise<FleetStatus> {
  const targets = targetsOf(inv);
  const scrape = (): Promise<Probe[]> => Promise.all(targets.map((t) => (t.url ? probe(t.url, timeoutMs, t.kind !== 'api') : Promise.resolve({ up: false, reason: t.reason ?? 'unreachable' }))));
  const first = await scrape();
  const t0 = Date.now();
  await sleep(intervalSeconds * 1000);
  const second = await scrape();
  const seconds = (Date.now() - t0) / 1000;

  const apps: AppStatus[] = [];
  let streams: FleetStatus['streams'] = { source: null, by_state: {}, errored: null, quarantine: {} };
  targets.forEach((t, i) => {
    const p = second[i]!;
    if (t.optional && !p.up && !first[i]!.up) return; // a pipeline worker beyond the host's cores
    const s = p.samples ?? [];
    const row: AppStatus = {
      host: t.host, app: t.app, cell: t.cell, url: t.url, up: p.up, reason: p.up ? null : (p.reason ?? 'unreachable'), health: p.health ?? null,
      ingest_rate: null, waiting: null, stored: null, quarantined: null, db_retries: null, ingest_paused: null, runs_completed: null, runs_failed: null, lost_leases: null,
    };
    if (p.up && t.kind === 'yagi') {
      const before = first[i]!.samples ? sum(first[i]!.samples!, 'stv3_ingest_notifications_total') : null;
      const now = sum(s, 'stv3_ingest_notifications_total');
      Object.assign(row, {
        ingest_rate: before === null || seconds <= 0 ? null : Math.max(0, now - before) / seconds,
        waiting: sum(s, 'stv3_ingest_deliveries_waiting'),
        stored: sum(s, 'stv3_ingest_notifications_total', { outcome: 'stored' }),
        quarantined: sum(s, 'stv3_ingest_notifications_total', { outcome: 'quarantined' }),
        db_retries: sum(s, 'stv3_ingest_db_retries'),
        ingest_paused: sum(s, 'stv3_ingest_database_blocked') > 0,
      });
    }
    if (p.up && t.kind === 'pipeline') {
      const runs = s.filter((x) => x.name === 'stv3_pipeline_runs_total');
      Object.assign(row, {
        runs_completed: runs.filter((x) => x.labels['outcome'] !== 'error').reduce((a, x) => a + x.value, 0),
        runs_failed: runs.filter((x) => x.labels['outcome'] === 'error').reduce((a, x) => a + x.value, 0),
        lost_leases: sum(s, 'stv3_pipeline_lost_leases_total'),
      });
    }
    if (p.up && t.kind === 'api' && streams.source === null) {
      const byState: Record<string, number> = {};
      for (const x of s.filter((x) => x.name === 'stv3_streams')) byState[x.labels['state'] ?? '?'] = (byState[x.labels['state'] ?? '?'] ?? 0) + x.value;
      const quarantine: Record<string, number> = {};
      for (const x of s.filter((x) => x.name === 'stv3_quarantine_messages')) quarantine[x.labels['cell'] ?? '?'] = x.value;
      streams = { source: t.url, by_state: byState, errored: sum(s, 'stv3_streams_errored'), quarantine };
    }
    apps.push(row);
  });
  return { apps, streams, interval_seconds: seconds };
}
