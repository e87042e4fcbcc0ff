/**
 * Retention (store/retention.ts, issue 14) against a real MariaDB: events past their type's age
 * go with their traits and links, newer ones and those held by streams not completed stay,
 * counts exact; old completed streams go with their dist_trait and streamevent rows; quarantine
 * only when asked; a dry run deletes nothing; two trimmers never run at once (the lock); the
 * batch query walks the (event_type_id, generated) index; bad retention values stop the load.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadWinchesterConfig } from '../../src/shared/config/winchester-conf.js';
import { createDbPool, type Pool } from '../../src/shared/db/pool.js';
import { DELETE_QUARANTINE_SQL, retentionPolicyFrom, runTrim, SELECT_COMPLETED_STREAMS_SQL, selectEventBatchSql, trimLockName, type TrimOptions } from '../../src/shared/store/retention.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { DateTime } from '../../src/shared/time.js';
import { count, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { winchesterYamlText, SANDBOX } from '../helpers/configs.js';
import { ROOT, startProcess } from '../helpers/processes.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

let db: TestDatabase;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  dir = mkdtempSync(join(tmpdir(), 'stv3-retention-'));
});
afterAll(async () => {
  await db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const NOW = DateTime.parse('2026-06-01T00:00:00');
/** What the fixture's ages are relative to: NOW, or the wall clock for the process tests. */
let base = NOW;
const daysAgo = (d: number, extraSeconds = 0): string => base.plusSeconds(-d * 86_400 + extraSeconds).toSql();

function winchesterYaml(extra: string): string {
  const file = join(dir, `w-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `database: {url: ${JSON.stringify(db.url)}}\npurge_completed_streams: false\n${extra}`);
  return file;
}

const POLICY_YAML = `
trim_events: true
trim_completed_streams_age: 30d
retention:
  default: 90d
  compute.instance.update: 7d
  compute.instance.exists: never
  'image.*': 30d
`;

function options(extra: Partial<TrimOptions> = {}, quarantineAge?: string): TrimOptions {
  const config = loadWinchesterConfig(winchesterYaml(POLICY_YAML));
  return { policy: retentionPolicyFrom(config.raw, quarantineAge ? { quarantineAge } : {}), batchSize: 2, maxSeconds: 60, pauseMs: 0, now: NOW, ...extra };
}

let seq = 0;
const typeIds = new Map<string, number>();

async function typeId(name: string): Promise<number> {
  if (!typeIds.has(name)) {
    await db.pool.query('INSERT IGNORE INTO event_type (`desc`) VALUES (?)', [name]);
    const [rows] = await db.pool.query('SELECT id FROM event_type WHERE `desc` = ?', [name]);
    typeIds.set(name, (rows as { id: number }[])[0]!.id);
  }
  return typeIds.get(name)!;
}

/** n events of a type at a time, each with two trait rows; returns their ids. */
async function events(type: string, n: number, generated: string): Promise<number[]> {
  const tid = await typeId(type);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const [r] = await db.pool.query('INSERT INTO event (message_id, generated, event_type_id, traits) VALUES (?, ?, ?, ?)', [`m-${++seq}`, generated, tid, '{}']);
    const id = (r as { insertId: number }).insertId;
    await db.pool.query("INSERT INTO trait (event_id, name, type, t_string) VALUES (?, 'instance_id', 1, 'i'), (?, 'tenant_id', 1, 't')", [id, id]);
    ids.push(id);
  }
  return ids;
}

async function stream(state: number, lastEvent: string, eventIds: number[]): Promise<number> {
  const [r] = await db.pool.query("INSERT INTO stream (name, state, first_event, last_event, distinguishing_key, fire_counts, event_count) VALUES ('t', ?, ?, ?, '{}', '[]', ?)", [state, lastEvent, lastEvent, eventIds.length]);
  const id = (r as { insertId: number }).insertId;
  await db.pool.query("INSERT INTO dist_trait (stream_id, name, type, dt_string) VALUES (?, 'instance_id', 1, 'i')", [id]);
  for (const e of eventIds) await db.pool.query('INSERT INTO streamevent (stream_id, event_id) VALUES (?, ?)', [id, e]);
  return id;
}

interface Fixture {
  oldUpdates: { active: number[]; error: number[]; completed: number[]; loose: number[] };
  newUpdates: number[];
  exists: number[];
  oldDeletes: number[];
  newDeletes: number[];
  oldImages: number[];
  streams: { active: number; error: number; completedRecent: number; completedOld: number; errorOld: number };
}

async function seed(): Promise<Fixture> {
  for (const t of ['streamevent', 'dist_trait', 'stream', 'trait', 'event', 'quarantine']) await db.pool.query(`DELETE FROM ${t}`);
  const update = 'compute.instance.update';
  const oldUpdates = {
    active: await events(update, 3, daysAgo(8)),
    error: await events(update, 2, daysAgo(8, 5)),
    completed: await events(update, 2, daysAgo(8, 10)),
    loose: await events(update, 3, daysAgo(9)),
  };
  const newUpdates = await events(update, 5, daysAgo(6));
  const exists = await events('compute.instance.exists', 4, daysAgo(500));
  const oldDeletes = await events('compute.instance.delete.end', 6, daysAgo(100));
  const newDeletes = await events('compute.instance.delete.end', 2, daysAgo(10));
  const oldImages = await events('image.upload', 3, daysAgo(31));
  await events('image.upload', 1, daysAgo(29));
  const streams = {
    active: await stream(StreamState.active, daysAgo(6), [...oldUpdates.active, newUpdates[0]!]),
    error: await stream(StreamState.error, daysAgo(8), oldUpdates.error),
    completedRecent: await stream(StreamState.completed, daysAgo(8), oldUpdates.completed),
    // past trim_completed_streams_age: goes, its (recent) events stay, in no stream
    completedOld: await stream(StreamState.completed, daysAgo(40), newDeletes),
    // old but in error: stays, with its events
    errorOld: await stream(StreamState.expire_error, daysAgo(100), oldDeletes.slice(0, 1)),
  };
  for (const ago of [40, 2]) {
    await db.pool.query("INSERT INTO quarantine (received_at, cell, queue, reason, body, body_size) VALUES (?, 'c', 'q', 'bad', 'x', 1)", [daysAgo(ago)]);
  }
  return { oldUpdates, newUpdates, exists, oldDeletes, newDeletes, oldImages, streams };
}

async function eventIds(): Promise<Set<number>> {
  const [rows] = await db.pool.query('SELECT id FROM event');
  return new Set((rows as { id: number }[]).map((r) => r.id));
}

describe('runTrim', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await seed();
  });

  it('deletes exactly the events past their age that no stream still needs, with traits and links', async () => {
    const before = await eventIds();
    const report = await runTrim(db.pool, options());
    expect(report).toMatchObject({ locked: true, complete: true, dryRun: false, streams: 1, quarantine: 0 });
    // update 7d: the 3 loose and the 2 of the completed stream; active and error streams keep theirs.
    // delete.end default 90d: 6 old minus the one an expire_error stream holds; image.* 30d: 3.
    expect(report.events).toEqual({ 'compute.instance.update': 5, 'compute.instance.delete.end': 5, 'image.upload': 3 });

    const gone = [...f.oldUpdates.loose, ...f.oldUpdates.completed, ...f.oldDeletes.slice(1), ...f.oldImages];
    const after = await eventIds();
    expect(after.size).toBe(before.size - 13);
    for (const id of gone) expect(after.has(id)).toBe(false);
    for (const id of [...f.oldUpdates.active, ...f.oldUpdates.error, ...f.newUpdates, ...f.exists, f.oldDeletes[0]!, ...f.newDeletes]) expect(after.has(id)).toBe(true);

    // traits of deleted events gone, the others' all there
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM trait')).toBe(2 * after.size);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM trait WHERE event_id IN (?)', [gone])).toBe(0);
    // links: none to a deleted event; the old completed stream and its rows gone, the others there
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent WHERE event_id IN (?)', [gone])).toBe(0);
    const [streams] = await db.pool.query('SELECT id FROM stream ORDER BY id');
    expect((streams as { id: number }[]).map((r) => r.id)).toEqual([f.streams.active, f.streams.error, f.streams.completedRecent, f.streams.errorOld]);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM dist_trait WHERE stream_id = ?', [f.streams.completedOld])).toBe(0);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent WHERE stream_id = ?', [f.streams.completedOld])).toBe(0);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent WHERE stream_id = ?', [f.streams.active])).toBe(4);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM streamevent WHERE stream_id = ?', [f.streams.completedRecent])).toBe(0);
    // event_count follows the links (the API's page cache relies on it)
    expect(await count(db.pool, 'SELECT event_count AS n FROM stream WHERE id = ?', [f.streams.completedRecent])).toBe(0);
    expect(await count(db.pool, 'SELECT event_count AS n FROM stream WHERE id = ?', [f.streams.active])).toBe(4);
    // quarantine untouched unless asked
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(2);

    // a second run finds nothing more
    const again = await runTrim(db.pool, options());
    expect(again.events).toEqual({});
    expect(again.streams).toBe(0);
  });

  it('a dry run counts the same and deletes nothing', async () => {
    const before = await eventIds();
    const traits = await count(db.pool, 'SELECT COUNT(*) AS n FROM trait');
    const report = await runTrim(db.pool, options({ dryRun: true }, '7d'));
    expect(report.dryRun).toBe(true);
    expect(report.events).toEqual({ 'compute.instance.update': 5, 'compute.instance.delete.end': 5, 'image.upload': 3 });
    expect(report.protectedEvents).toEqual({ 'compute.instance.update': 5, 'compute.instance.delete.end': 1 });
    expect(report.streams).toBe(1);
    expect(report.quarantine).toBe(1);
    expect(await eventIds()).toEqual(before);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM trait')).toBe(traits);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM stream')).toBe(5);
    expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM quarantine')).toBe(2);
  });

  it('deletes quarantine rows only when asked, by received_at', async () => {
    const report = await runTrim(db.pool, options({}, '7d'));
    expect(report.quarantine).toBe(1);
    const [rows] = await db.pool.query('SELECT received_at FROM quarantine');
    expect((rows as { received_at: string }[]).map((r) => r.received_at)).toEqual([daysAgo(2)]);
  });

  it('stops at maxSeconds and goes on from there in the next run', async () => {
    const cut = await runTrim(db.pool, options({ batchSize: 1, pauseMs: 120, maxSeconds: 0.3 }));
    expect(cut.complete).toBe(false);
    const cutTotal = Object.values(cut.events).reduce((a, b) => a + b, 0) + cut.streams;
    expect(cutTotal).toBeGreaterThan(0);
    expect(cutTotal).toBeLessThan(14);
    const rest = await runTrim(db.pool, options());
    expect(rest.complete).toBe(true);
    expect(Object.values(rest.events).reduce((a, b) => a + b, 0) + rest.streams + cutTotal).toBe(14);
  });

  it('two trimmers never run at once: the second skips while the first holds the lock', async () => {
    const other: Pool = createDbPool(db.target, { connectionLimit: 2 });
    try {
      // A slow first run (one event per batch, 50 ms pauses) and, while it runs, a second one.
      const first = runTrim(db.pool, options({ batchSize: 1, pauseMs: 50 }));
      await new Promise((r) => setTimeout(r, 150));
      const [[held]] = (await other.query('SELECT IS_USED_LOCK(?) AS by_conn', [trimLockName(db.name)])) as unknown as [[{ by_conn: number | null }]];
      expect(held.by_conn).not.toBeNull();
      const second = await runTrim(other, options());
      expect(second.locked).toBe(false);
      expect(second.events).toEqual({});
      const a = await first;
      expect(a.locked).toBe(true);
      expect(Object.values(a.events).reduce((x, y) => x + y, 0)).toBe(13);
      // released: the next one runs (and finds nothing left)
      const third = await runTrim(other, options());
      expect(third.locked).toBe(true);
      expect(third.events).toEqual({});
    } finally {
      await other.end();
    }
  });

  it('a worker that waits for the lock (stv3 trim --wait) runs after the holder', async () => {
    const holder = await db.pool.getConnection();
    try {
      await holder.query('SELECT GET_LOCK(?, 0)', [trimLockName(db.name)]);
      const waiting = runTrim(db.pool, options({ lockWaitSeconds: 10 }));
      await new Promise((r) => setTimeout(r, 300));
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE id IN (?)', [f.oldUpdates.loose])).toBe(3);
      await holder.query('SELECT RELEASE_LOCK(?)', [trimLockName(db.name)]);
      const report = await waiting;
      expect(report.locked).toBe(true);
      expect(report.events['compute.instance.update']).toBe(5);
    } finally {
      holder.release();
    }
  });
});

describe('stv3 trim and the pipeline workers', () => {
  const run = promisify(execFile);
  const stv3 = (args: string[]): Promise<{ stdout: string; stderr: string }> => run(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args], { cwd: ROOT, timeout: 30_000 });
  const fullYaml = (extra: string): string => {
    const file = join(dir, `full-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, winchesterYamlText({ databaseUrl: db.url, configPath: [SANDBOX], extra }));
    return file;
  };

  it('stv3 trim --dry-run prints per event type and deletes nothing; stv3 trim deletes', async () => {
    base = DateTime.now();
    try {
      const f = await seed();
      const file = fullYaml(POLICY_YAML);
      const before = await eventIds();
      const dry = await stv3(['trim', '--config', file, '--dry-run']);
      expect(dry.stdout).toContain('compute.instance.update: would delete 5 events, 5 kept (in streams not completed)');
      expect(dry.stdout).toContain('image.upload: would delete 3 events');
      expect(dry.stdout).toContain('events: would delete 13');
      expect(dry.stdout).toContain('completed streams: would delete 1');
      expect(await eventIds()).toEqual(before);
      const real = await stv3(['trim', '--config', file, '--batch-size', '4', '--json']);
      const report = JSON.parse(real.stdout) as { events: Record<string, number>; streams: number; quarantine: number; complete: boolean };
      expect(report).toMatchObject({ events: { 'compute.instance.update': 5, 'compute.instance.delete.end': 5, 'image.upload': 3 }, streams: 1, quarantine: 0, complete: true });
      expect((await eventIds()).size).toBe(before.size - 13);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE id IN (?)', [f.oldUpdates.active])).toBe(3);
      // quarantine only on request
      const q = await stv3(['trim', '--config', file, '--quarantine', '7d']);
      expect(q.stdout).toContain('quarantine: deleted 1');
      await expect(stv3(['trim', '--config', file, '--quarantine', 'soon'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--quarantine: expected a duration') });
      // A bad flag is a usage error (exit 2), naming the flag.
      await expect(stv3(['trim', '--config', file, '--batch-size', '0'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--batch-size: expected a whole number ≥ 1, got "0"') });
      await expect(stv3(['trim', '--config', file, '--wait', 'abc'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--wait: expected a number ≥ 0') });
    } finally {
      base = NOW;
    }
  });

  it('pipeline workers with trim_events trim on their own, one at a time', async () => {
    base = DateTime.now();
    try {
      const f = await seed();
      const file = fullYaml(`${POLICY_YAML}trim_interval_seconds: 1\ntrim_events_batch_size: 1\ntrim_pause_ms: 20\npipeline_worker_poll_ms: 200\n`);
      const workers = [0, 1].map((i) => startProcess('pipeline-worker/main.js', ['--config', file, '--name', `trim-${i}`, '--no-migrate']));
      await Promise.all(workers.map((w) => w.ready(20_000)));
      // While they run, whoever holds the lock, there is never more than one holder (the lock is
      // exclusive by construction; this checks they really go through it).
      let sawHolder = false;
      const deadline = Date.now() + 30_000;
      const due = [...f.oldUpdates.loose, ...f.oldUpdates.completed, ...f.oldDeletes.slice(1), ...f.oldImages];
      while (Date.now() < deadline && (await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE id IN (?)', [due])) > 0) {
        const [[held]] = (await db.pool.query('SELECT IS_USED_LOCK(?) AS c', [trimLockName(db.name)])) as unknown as [[{ c: number | null }]];
        if (held.c !== null) sawHolder = true;
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited()));
      expect(sawHolder).toBe(true);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE id IN (?)', [due])).toBe(0);
      expect(await count(db.pool, 'SELECT COUNT(*) AS n FROM event WHERE id IN (?)', [[...f.oldUpdates.active, ...f.oldUpdates.error, ...f.newUpdates, ...f.exists]])).toBe(14);
      const trimmed = workers.flatMap((w) => w.lines.filter((l) => l['component'] === 'trimmer' && typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('trimmed')));
      expect(trimmed.length).toBeGreaterThan(0);
    } finally {
      base = NOW;
    }
  });
});

describe('plans and configuration', () => {
  it('the batch query walks ix_event_type_generated, never a scan of event', async () => {
    for (const withCursor of [false, true]) {
      const params = [1, NOW.toSql(), ...(withCursor ? [daysAgo(10), daysAgo(10), 5] : []), 100];
      const [rows] = await db.pool.query(`EXPLAIN ${selectEventBatchSql(withCursor)}`, params);
      const e = (rows as { table: string; type: string; key: string | null }[]).find((r) => r.table === 'e')!;
      expect(e.type).not.toBe('ALL');
      expect(e.key).toBe('ix_event_type_generated');
    }
    const [streams] = await db.pool.query(`EXPLAIN ${SELECT_COMPLETED_STREAMS_SQL}`, [0, NOW.toSql(), 100]);
    // a range (by state and id, or by id when the table is small), never a scan
    expect((streams as { type: string; key: string | null }[])[0]).toMatchObject({ type: 'range', key: expect.stringMatching(/^(ix_stream_state|PRIMARY)$/) });
    const [quarantine] = await db.pool.query(`EXPLAIN ${DELETE_QUARANTINE_SQL}`, [NOW.toSql(), 100]);
    expect((quarantine as { type: string; key: string | null }[])[0]).toMatchObject({ type: 'range', key: 'ix_quarantine_received_at' });
  });

  it('bad retention values stop the load naming file and key', () => {
    const bad = winchesterYaml('retention:\n  compute.instance.update: 7 days\n');
    expect(() => loadWinchesterConfig(bad)).toThrow(`${bad}: retention.compute.instance.update: expected a duration`);
    const badAge = winchesterYaml("trim_events_age: '$timestamp - 14 fortnights'\n");
    expect(() => loadWinchesterConfig(badAge)).toThrow(`${badAge}: trim_events_age: not a valid timex expression`);
    const badStreams = winchesterYaml('trim_completed_streams_age: 30\n');
    expect(() => loadWinchesterConfig(badStreams)).toThrow(`${badStreams}: trim_completed_streams_age:`);
  });

  it('without a retention mapping, trim_events_age (upstream) applies to every type', async () => {
    await seed();
    const config = loadWinchesterConfig(winchesterYaml("trim_events_age: '$timestamp - 20d'\n"));
    const report = await runTrim(db.pool, { policy: retentionPolicyFrom(config.raw), batchSize: 100, maxSeconds: 60, pauseMs: 0, now: NOW, dryRun: true });
    expect(report.events).toEqual({ 'compute.instance.exists': 4, 'compute.instance.delete.end': 5, 'image.upload': 4 });
    expect(report.streams).toBe(0);
  });
});
