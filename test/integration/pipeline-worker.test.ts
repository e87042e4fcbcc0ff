/**
 * Pipeline workers as real processes against MariaDB: exactly-once runs across workers,
 * recovery from a worker killed mid-pipeline through its lease, failing handlers erroring only
 * their stream, retry, and graceful shutdown.
 */
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { retryStream } from '../../src/shared/store/stream-retry.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { count, createTestDatabase } from '../helpers/db.js';
import { FIRE_AT_ONCE_TRIGGER, readRuns, seedStreams, writePipelineConfig } from '../helpers/pipeline.js';
import { eventually, startProcess, type RunningProcess } from '../helpers/processes.js';

function startWorkers(n: number, winchesterYaml: string): RunningProcess[] {
  return Array.from({ length: n }, (_, i) => startProcess('pipeline-worker/main.js', ['--config', winchesterYaml, '--name', `w${i}`]));
}

async function stopAll(workers: RunningProcess[]): Promise<void> {
  for (const w of workers) w.kill('SIGTERM');
  for (const w of workers) expect(await w.exited()).toBe(0);
}

async function states(db: { pool: import('mysql2/promise').Pool }): Promise<Record<number, number>> {
  const [rows] = await db.pool.query('SELECT state, COUNT(*) AS n FROM stream GROUP BY state');
  return Object.fromEntries((rows as { state: number; n: number }[]).map((r) => [r.state, r.n]));
}

describe('pipeline workers', () => {
  it.each(['skip_locked', 'serial'])('2,000 due streams, 3 workers at once (%s claims): every pipeline ran exactly once, every stream completed', async (strategy) => {
    const db = await createTestDatabase(`${import.meta.url}#exactly-once-${strategy}`);
    // 2 ms per run, so the three workers overlap and compete for the same streams.
    const pipelines = 'counted:\n  - name: slow\n    params: {ms: 2}\n  - name: count\n    params: {file: $RUNS}\n';
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers: FIRE_AT_ONCE_TRIGGER('counted'), pipelines, extra: `pipeline_claim_strategy: ${strategy}` });
    try {
      const ids = await seedStreams(db, FIRE_AT_ONCE_TRIGGER('counted'), 2000);
      expect(ids).toHaveLength(2000);
      const workers = startWorkers(3, cfg.winchesterYaml);
      await Promise.all(workers.map((w) => w.ready()));
      await eventually(() => count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.completed}`), (n) => n === 2000, 60_000);
      await stopAll(workers);
      const commits = readRuns(cfg.runsFile).filter(([verb]) => verb === 'commit').map(([, id]) => id);
      expect(commits).toHaveLength(2000);
      expect(new Set(commits)).toEqual(new Set(ids));
      // All three took part.
      const fired = workers.map((w) => w.lines.filter((l) => l['component'] === 'stats').reduce((s, l) => s + Number(l['fired'] ?? 0), 0));
      expect(fired.reduce((a, b) => a + b, 0)).toBe(2000);
      expect(fired.every((n) => n > 0)).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('a worker SIGKILLed mid-pipeline: after its lease the stream runs again and completes; the dead run left nothing', async () => {
    const db = await createTestDatabase(`${import.meta.url}#sigkill`);
    const pipelines = 'slowly:\n  - name: count\n    params: {file: $RUNS}\n  - emit\n  - name: slow\n    params: {ms: 1500}\n';
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers: FIRE_AT_ONCE_TRIGGER('slowly'), pipelines, extra: 'pipeline_lease_seconds: 2\npipeline_worker_batch_size: 1' });
    try {
      const [id] = await seedStreams(db, FIRE_AT_ONCE_TRIGGER('slowly'), 1);
      const [victim] = startWorkers(1, cfg.winchesterYaml);
      await victim!.ready();
      await eventually(async () => readRuns(cfg.runsFile), (runs) => runs.some(([v]) => v === 'start'), 10_000, 20);
      victim!.kill('SIGKILL');
      await victim!.exited();
      expect(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE id = ? AND state = ${StreamState.firing}`, [id])).toBe(1);

      const [rescuer] = startWorkers(1, cfg.winchesterYaml);
      await rescuer!.ready();
      await eventually(() => count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE id = ? AND state = ${StreamState.completed}`, [id]), (n) => n === 1, 20_000);
      await stopAll([rescuer!]);
      const runs = readRuns(cfg.runsFile);
      expect(runs.filter(([v]) => v === 'start')).toHaveLength(2);
      expect(runs.filter(([v]) => v === 'commit')).toHaveLength(1);
      // The generated event exists once, filed into its own stream by the trigger like any event.
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE message_id = ?', [`generated-${id}`])).toBe(1);
      const [row] = (await db.pool.query('SELECT attempts, last_error, lease_owner FROM stream WHERE id = ?', [id]))[0] as { attempts: number; last_error: string | null; lease_owner: string | null }[];
      expect(row).toMatchObject({ attempts: 2, last_error: null, lease_owner: null });
      expect(rescuer!.lines.some((l) => /leases ran out/.test(String(l['msg'])))).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('a chunk that takes longer than the lease: renewed while it runs, outcomes recorded as each stream finishes; no stream runs twice', async () => {
    const db = await createTestDatabase(`${import.meta.url}#heartbeat`);
    // 12 streams of 700 ms each in one chunk: 8 s against a 2 s lease, with a second worker reaping.
    const pipelines = 'slowly:\n  - name: count\n    params: {file: $RUNS}\n  - name: slow\n    params: {ms: 700}\n';
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers: FIRE_AT_ONCE_TRIGGER('slowly'), pipelines, extra: 'pipeline_lease_seconds: 2\npipeline_worker_batch_size: 12' });
    try {
      const ids = await seedStreams(db, FIRE_AT_ONCE_TRIGGER('slowly'), 12);
      const [first] = startWorkers(1, cfg.winchesterYaml);
      await first!.ready();
      await eventually(async () => readRuns(cfg.runsFile), (runs) => runs.some(([v]) => v === 'start'), 10_000, 20);
      const [second] = startWorkers(1, cfg.winchesterYaml);
      await second!.ready();
      // Completed one by one while the chunk runs, not all at its end.
      const seen = new Set<number>();
      await eventually(async () => {
        seen.add(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.completed}`));
        return Math.max(...seen);
      }, (n) => n === 12, 30_000, 100);
      expect([...seen].filter((n) => n > 0 && n < 12).length).toBeGreaterThan(3);
      await stopAll([first!, second!]);
      const starts = readRuns(cfg.runsFile).filter(([v]) => v === 'start').map(([, id]) => id);
      expect(starts.sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
      expect([first!, second!].some((w) => w.lines.some((l) => /leases ran out/.test(String(l['msg']))))).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('a throwing handler errors its stream with the message, others go on; retried once fixed, it completes', async () => {
    const db = await createTestDatabase(`${import.meta.url}#throwing`);
    const flagDir = writePipelineConfig({ databaseUrl: db.url, triggers: '[]', pipelines: '{}' }).dir;
    const flag = join(flagDir, 'broken');
    const triggers = `
- name: fragile
  distinguished_by: [instance_id]
  expiration: "$last + 1d"
  fire_pipeline: fragile_pipe
  match_criteria: [{event_type: "test.*", traits: {instance_id: {string: fragile-one}}}]
  fire_criteria: [{event_type: "test.*"}]
${FIRE_AT_ONCE_TRIGGER('counted')}`;
    const pipelines = `fragile_pipe:\n  - name: fail\n    params: {flag: ${flag}}\n  - name: count\n    params: {file: $RUNS}\ncounted:\n  - name: count\n    params: {file: $RUNS}\n`;
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers, pipelines });
    try {
      writeFileSync(flag, 'x');
      // One fragile stream (its instance) and 20 ordinary ones.
      await seedStreams(db, triggers, 20);
      await db.pool.query("UPDATE stream SET name = 'fragile' WHERE id = (SELECT id FROM (SELECT MIN(id) AS id FROM stream) x)");
      const [[fragile]] = (await db.pool.query("SELECT id FROM stream WHERE name = 'fragile'")) as unknown as [{ id: number }[]];
      // A stream of a trigger that no longer exists, and one whose pipeline is gone: error, not crash.
      await db.pool.query("INSERT INTO stream (name, state, first_event, last_event, expire_timestamp, fire_timestamp, distinguishing_key, fire_counts) VALUES ('vanished', 1, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 1 DAY, UTC_TIMESTAMP(6), '[]', '[]')");
      const workers = startWorkers(1, cfg.winchesterYaml);
      await workers[0]!.ready();
      await eventually(() => states(db), (s) => s[StreamState.completed] === 19 && s[StreamState.error] === 2, 20_000);
      const [errors] = await db.pool.query(`SELECT name, last_error, attempts FROM stream WHERE state = ${StreamState.error} ORDER BY name`);
      expect(errors).toEqual([
        { name: 'fragile', last_error: `handler "fail" failed: boom: ${flag} is present`, attempts: 1 },
        { name: 'vanished', last_error: "Unknown trigger def 'vanished'", attempts: 1 },
      ]);
      expect(workers[0]!.child.exitCode).toBeNull();
      expect(readRuns(cfg.runsFile).filter(([, id]) => id === fragile!.id)).toEqual([]); // rolled back before count ran

      unlinkSync(flag);
      expect(await retryStream(db.pool, fragile!.id)).toBe('retry_fire');
      expect(await retryStream(db.pool, fragile!.id)).toBeNull(); // not in error any more
      await eventually(() => count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE id = ? AND state = ${StreamState.completed}`, [fragile!.id]), (n) => n === 1, 10_000);
      expect(readRuns(cfg.runsFile).filter(([v, id]) => v === 'commit' && id === fragile!.id)).toHaveLength(1);
      await stopAll(workers);
    } finally {
      if (existsSync(flag)) unlinkSync(flag);
      await db.close();
    }
  });

  it('SIGTERM: finishes what it holds, claims nothing new, leaves no stream claimed', async () => {
    const db = await createTestDatabase(`${import.meta.url}#graceful`);
    const pipelines = 'slowish:\n  - name: slow\n    params: {ms: 100}\n  - name: count\n    params: {file: $RUNS}\n';
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers: FIRE_AT_ONCE_TRIGGER('slowish'), pipelines, extra: 'pipeline_worker_batch_size: 10\npipeline_shutdown_grace_seconds: 0.5' });
    try {
      await seedStreams(db, FIRE_AT_ONCE_TRIGGER('slowish'), 50);
      const workers = startWorkers(1, cfg.winchesterYaml);
      await workers[0]!.ready();
      await eventually(async () => readRuns(cfg.runsFile).length, (n) => n >= 4, 10_000, 20);
      await stopAll(workers);
      const s = await states(db);
      expect(s[StreamState.firing] ?? 0).toBe(0);
      const completed = s[StreamState.completed] ?? 0;
      expect(completed).toBeGreaterThan(0);
      expect(completed).toBeLessThan(50);
      // What was not done is due again, and its attempt was not counted.
      expect((s[StreamState.active] ?? 0) + (s[StreamState.retry_fire] ?? 0)).toBe(50 - completed);
      expect(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.retry_fire} AND attempts <> 0`)).toBe(0);
      expect(readRuns(cfg.runsFile).filter(([v]) => v === 'commit')).toHaveLength(completed);
    } finally {
      await db.close();
    }
  });

  it('ingest appending while workers claim: every run saw its whole stream, and no event was appended after the claim', async () => {
    const db = await createTestDatabase(`${import.meta.url}#claim-vs-append`);
    const cfg = writePipelineConfig({ databaseUrl: db.url, triggers: FIRE_AT_ONCE_TRIGGER('counted'), pipelines: 'counted:\n  - name: count\n    params: {file: $RUNS}\n' });
    try {
      const workers = startWorkers(2, cfg.winchesterYaml);
      await Promise.all(workers.map((w) => w.ready()));
      // 30 rounds of events for the same 100 instances, through the ingest code path, while
      // the workers claim streams that are ready from their first event on.
      for (let round = 0; round < 30; round++) await seedStreams(db, FIRE_AT_ONCE_TRIGGER('counted'), 100, 3, undefined, 'shared');
      await eventually(() => count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state <> ${StreamState.completed}`), (n) => n === 0, 30_000);
      await stopAll(workers);
      const [rows] = await db.pool.query('SELECT id, event_count, (SELECT COUNT(*) FROM streamevent se WHERE se.stream_id = s.id) AS linked FROM stream s');
      const streams = rows as { id: number; event_count: number; linked: number }[];
      const seenByRun = new Map<number, number>();
      for (const line of (await import('node:fs')).readFileSync(cfg.runsFile, 'utf8').split('\n').filter((l) => l.startsWith('start'))) {
        const [, id, n] = line.split(' ');
        seenByRun.set(Number(id), Number(n));
      }
      for (const s of streams) {
        expect(s.linked, `stream ${s.id}`).toBe(s.event_count);
        expect(seenByRun.get(s.id), `stream ${s.id}`).toBe(s.event_count);
      }
      expect(streams.reduce((sum, s) => sum + s.event_count, 0)).toBe(30 * 100 * 3);
      expect(streams.length).toBeGreaterThan(100); // later events went to new streams after claims
    } finally {
      await db.close();
    }
  });
});
