/**
 * `npm run sandbox` end to end, as a new user runs it but isolated: real pm2 with its own
 * PM2_HOME, its own database, app prefix and vhosts (options), so it never meets a developer's
 * sandbox. Start (not a terminal: plain lines, --duration), then events and completed streams
 * in both cells; `--stop` leaves no process and no claimed stream; `--reset` drops the database
 * and the vhosts.
 *
 * Which cell a stream belongs to: each cell's traffic is notigen with the seed, start and rates
 * in state.json, so the test regenerates it and maps instance ids to cells.
 */
import { connect } from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenerator, DEFAULT_TEMPLATE_DIR, loadTemplates } from '../../src/notigen/index.js';
import { parseDatabaseUrl } from '../../src/shared/config/database-url.js';
import { createDbPool } from '../../src/shared/db/pool.js';
import { parseIso8601 } from '../../src/shared/distiller/iso8601.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { DateTime } from '../../src/shared/time.js';
import { count } from '../helpers/db.js';
import { eventually, freePort } from '../helpers/processes.js';
import { alive, TestSandbox } from '../helpers/sandbox.js';

const sandbox = new TestSandbox();
const { prefix, database } = sandbox;
afterAll(() => sandbox.cleanup());

describe('npm run sandbox', () => {
  it('starts two cells under pm2, fills both with events and completed streams, stops cleanly and resets', async () => {
    // Ten simulated minutes before a midnight: the end-of-day .exists come within seconds.
    const start = DateTime.now().startOfDay().plusSeconds(-600).toString();
    const apiPort = await freePort();
    const started = await sandbox.run('--rate', '100', '--start', start, '--pipeline-workers', '2', '--api-port', String(apiPort), '--time-sync-port', String(await freePort()), '--duration', '4', '--interval', '2');
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^sandbox: cell1 in \d+ stored \d+/m);
    expect(started.stdout).toContain('The sandbox keeps running');

    const state = sandbox.state();
    // Vhosts where the management API or rabbitmqctl can make them (this machine: rabbitmqctl;
    // a developer's without sudo: shared, which sandbox-shared.test.ts covers).
    const vhosts = state.layout.mode !== 'shared';
    if (vhosts) expect(started.stdout).toContain(`cells: cell1 in vhost stv3-${prefix}-cell1, cell2 in vhost stv3-${prefix}-cell2`);
    const apps = await sandbox.apps();
    expect(new Set(apps.map((a) => a.name))).toEqual(new Set(state.apps));
    expect(apps.every((a) => a.name.startsWith(`${prefix}-`) && a.status === 'online')).toBe(true);
    expect(apps.filter((a) => a.name === `${prefix}-pipeline-worker`)).toHaveLength(2);
    // Asked again with another prefix while it runs: its status, and why the prefix is not used.
    const again = await sandbox.run('--prefix', 'other', '--duration', '1', '--interval', '1');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`(It runs with --prefix ${prefix} --database ${database}; yours (other, ${database}) apply only to a new start`);

    // The cell of each instance, from the same notigen traffic.
    const cellOf = new Map<string, string>();
    const templates = loadTemplates(DEFAULT_TEMPLATE_DIR);
    for (const cell of ['cell1', 'cell2']) {
      const t = state.traffic;
      const begin = parseIso8601(t.start);
      const generator = createGenerator({ templates, seed: t.seeds[cell]!, start: begin, opsPerHour: t.opsPerHour, instances: t.instances, cells: [cell], end: begin.plusSeconds(24 * 365 * 3600), count: 5000 });
      for (const g of generator) {
        const instance = (g.notification['payload'] as Record<string, unknown> | undefined)?.['instance_id'];
        if (typeof instance === 'string') cellOf.set(instance, cell);
      }
    }

    const pool = createDbPool(parseDatabaseUrl(state.databaseUrl), { connectionLimit: 2 });
    try {
      await eventually(() => count(pool, 'SELECT COUNT(*) AS n FROM ingest_cell WHERE events_stored > 0'), (n) => n === 2, 30_000);
      const completedByCell = async (): Promise<Record<string, number>> => {
        const [rows] = await pool.query(`SELECT d.dt_string AS instance FROM stream s JOIN dist_trait d ON d.stream_id = s.id AND d.name = 'instance_id' WHERE s.state = ${StreamState.completed}`);
        const by: Record<string, number> = { cell1: 0, cell2: 0 };
        for (const r of rows as { instance: string }[]) {
          const cell = cellOf.get(r.instance);
          if (cell) by[cell]!++;
        }
        return by;
      };
      const by = await eventually(completedByCell, (b) => b['cell1']! > 0 && b['cell2']! > 0, 45_000);
      expect(by['cell1']).toBeGreaterThan(0);
      expect(by['cell2']).toBeGreaterThan(0);
      // The API the sandbox started answers about the same database.
      const status = (await (await fetch(`${state.apiUrl}/v2/status`)).json()) as { cells: { cell: string }[] };
      expect(status.cells.map((c) => c.cell).sort()).toEqual(['cell1', 'cell2']);
      // The API runs in pm2 cluster mode: its lines must reach its own log, not the pm2 daemon's.
      expect(await sandbox.logs(`${prefix}-api`)).toMatch(/\(api\/\d+\) api listening/);

      const pids = (await sandbox.apps()).map((a) => a.pid);
      const stopped = await sandbox.run('--stop');
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toContain(`sandbox: stopped ${prefix}-notigen-cell1`);
      expect((await sandbox.apps()).filter((a) => a.name.startsWith(`${prefix}-`))).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
      expect(await count(pool, `SELECT COUNT(*) AS n FROM stream WHERE state IN (${StreamState.firing}, ${StreamState.expiring}) OR lease_owner IS NOT NULL`)).toBe(0);
    } finally {
      await pool.end();
    }

    const reset = await sandbox.run('--reset');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain(`dropped database ${database}`);
    if (vhosts) {
      expect(reset.stdout).toContain(`removed vhosts stv3-${prefix}-cell1, stv3-${prefix}-cell2`);
      // The vhosts are gone: the broker refuses a connection to them.
      await expect(connect(state.layout.cells[0]!.url)).rejects.toThrow();
    }
  }, 150_000);
});
