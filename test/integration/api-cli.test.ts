/**
 * `stv3` end to end against a running API process (dist/, as pm2 runs it): klugman's verbs with
 * their fixes, paging, the operator verbs, `--json` parsed back, exit codes (0 ok, 1 error,
 * 2 usage, 3 not found); and the API process itself: quincy.conf, refusal to expose
 * mutations without a token, graceful stop.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { loadApiFixture, TOKEN, writeApiWinchester, type ApiFixture } from '../helpers/api.js';
import { ROOT, startProcess, type RunningProcess } from '../helpers/processes.js';

const run = promisify(execFile);
let db: TestDatabase;
let fixture: ApiFixture;
let api: RunningProcess;
let url: string;
let winchester: string;

async function startApiProcess(config: string, extra: string[] = []): Promise<{ proc: RunningProcess; url: string }> {
  const proc = startProcess('api/main.js', ['--config', config, '--port', '0', ...extra]);
  await proc.ready();
  const line = await proc.waitForLog((l) => l['msg'] === 'api listening');
  return { proc, url: String(line['address']) };
}

async function stv3(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args], { env: { ...process.env, STV3_API_URL: url, STV3_API_TOKEN: '', ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function stv3Json<T = unknown>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const r = await stv3([...args, '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  fixture = await loadApiFixture(db);
  winchester = writeApiWinchester(db, `api_token: ${TOKEN}\n`);
  ({ proc: api, url } = await startApiProcess(winchester));
});
afterAll(async () => {
  api.kill('SIGKILL');
  await db.close();
});

describe('stv3 streams and events', () => {
  it('lists streams as JSON and as an aligned table with readable datetimes', async () => {
    const all = await stv3Json<{ id: number }[]>(['streams']);
    expect(all.map((s) => s.id)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const table = await stv3(['streams', '--name', 'reset_test_trigger', '--state', 'error']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/│ id │ trigger +│ state +│ first_event +│/);
    expect(table.stdout).toMatch(/│ 5 +│ reset_test_trigger │ error +│ 2014-08-01 00:00:00 +│/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1); // aligned
  });

  it('uses --name as the trigger, --from/--to as the help says, several traits AND-ed', async () => {
    expect((await stv3Json<{ id: number }[]>(['streams', '--name', 'fire_test_trigger'])).map((s) => s.id)).toEqual([4, 3]);
    expect((await stv3Json<{ id: number }[]>(['streams', '--from', '2014-08-03T00:00:00'])).map((s) => s.id)).toEqual([11]);
    expect((await stv3Json<{ id: number }[]>(['streams', '--to', '2014-08-01T02:10:12.000001'])).map((s) => s.id)).toEqual([8, 7, 6, 5, 1]);
    expect((await stv3Json<{ id: number }[]>(['streams', '--traits', 'instance_id=zzzz-xxxx-yyyy-wwww,memory_mb:int>=4096'])).map((s) => s.id)).toEqual([1]);
    expect((await stv3Json<{ id: number }[]>(['streams', '--traits', 'instance_id:http://nova:8774/v2/a:b'])).map((s) => s.id)).toEqual([4]);
    expect(await stv3Json(['streams', '--count', '--state', 'active'])).toEqual([{ count: 4 }]);
    const [one] = await stv3Json<{ id: number; events: { message_id: string }[] }[]>(['streams', '--id', '1', '--details']);
    expect(one!.events.map((e) => e.message_id)).toEqual(['1234-5678-003', '1234-5678-004']);
  });

  it('pages with --limit and --all', async () => {
    const r = await stv3(['streams', '--limit', '4']);
    expect(r.stderr).toMatch(/more may follow: --all, or --mark 8/);
    expect((await stv3Json<unknown[]>(['streams', '--limit', '4', '--all'])).length).toBe(11);
    expect((await stv3Json<{ id: number }[]>(['streams', '--limit', '4', '--mark', '8'])).map((s) => s.id)).toEqual([7, 6, 5, 4]);
    expect((await stv3Json<unknown[]>(['events', '--limit', '2', '--all'])).length).toBe(6);
  });

  it('shows events by name, message id (case kept) and traits', async () => {
    expect((await stv3Json<{ message_id: string }[]>(['events', '--name', 'test.thing.end'])).map((e) => e.message_id)).toEqual(['1234-5678-002']);
    expect(await stv3Json(['events', '--msg-id', 'Mixed-Case-ID-005'])).toMatchObject({ message_id: 'Mixed-Case-ID-005', instance_id: 'http://nova:8774/v2/a:b' });
    const shown = await stv3(['events', '--msg-id', 'Mixed-Case-ID-005']);
    expect(shown.stdout).toMatch(/│ launched_at +│ 2014-08-01 23:59:59\.999999 +│/);
    expect((await stv3Json<{ message_id: string }[]>(['events', '--from', '2014-08-01', '--to', '2014-08-02', '--traits', 'memory_mb:int>1024'])).map((e) => e.message_id)).toEqual(['1234-5678-002']);
    expect(await stv3Json(['events', '--count', '--traits', 'instance_id=aaaa-bbbb-cccc-dddd'])).toEqual([{ count: 2 }]);
  });

  it('exits 2 for usage errors, 3 for not found, 1 for other errors, saying what to fix', async () => {
    const server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('not here'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const other = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    onTestFinished(() => void server.close());
    const cases: [string[], number, RegExp][] = [
      [['streams', '--limit', '0'], 2, /--limit must be a whole number from 1 to 1000/],
      [['streams', '--state', 'weird'], 2, /state: unknown state "weird"/],
      // The API's parameters are named by the flags that set them.
      [['streams', '--from', 'yesterday'], 2, /^stv3: --from: cannot read "yesterday"/m],
      [['events', '--traits', 'memory_mb:int>=abc', '--from', '2014-08-01', '--to', '2014-08-02'], 2, /--traits: /],
      [['streams', '--count', '--id', '1'], 2, /--count and --id cannot be used together/],
      [['streams', '--traits', 'nonsense'], 2, /--traits: cannot read "nonsense"/],
      [['events', '--traits', 'host=compute-1'], 2, /host can only be matched by reading every event of the time range.*give --from and --to/],
      [['streams', '--id', '999'], 3, /no stream 999/],
      [['events', '--msg-id', 'mixed-case-id-005'], 3, /no event with message_id/],
      [['streams', 'explain', '424242'], 3, /no stream 424242/],
      [['frobnicate'], 2, /unknown command 'frobnicate'/],
      [['streams', '--url', 'http://127.0.0.1:1'], 1, /cannot reach the API at http:\/\/127\.0\.0\.1:1.*--url \/ STV3_API_URL/],
      [['streams', 'retry', '5'], 1, /send Authorization: Bearer.*give --token or set STV3_API_TOKEN/],
      // Something else answering at --url: an error (1), not "not found" (3).
      [['streams', '--url', other], 1, /GET \/v2\/streams: HTTP 404 from http:\/\/127\.0\.0\.1:\d+, which does not answer as the stv3 API does; check --url/],
    ];
    for (const [args, code, message] of cases) {
      const r = await stv3(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).not.toMatch(/younger_than|from_datetime|q\.value/);
    }
  });
});

describe('stv3 operator verbs', () => {
  it('retries and explains streams', async () => {
    const retried = await stv3(['streams', 'retry', '5', '6'], { STV3_API_TOKEN: TOKEN });
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toBe('stream 5: retry_fire\nstream 6: retry_expire\n');
    const again = await stv3(['streams', 'retry', '5', '--token', TOKEN]);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/stream 5: retry_fire, not in error or expire_error: nothing done/);
    const explained = await stv3(['streams', 'explain', '1']);
    expect(explained.stdout).toMatch(/^stream 1 \(test_trigger\): fire criteria not met \(0 of 1 compute\.instance\.exists\)/);
    expect(explained.stdout).toMatch(/│ fire criteria +│ 0\/1 compute\.instance\.exists/);
    const [e] = await stv3Json<{ state: string; lease_owner: string }[]>(['streams', 'explain', '9']);
    expect(e).toMatchObject({ state: 'firing', lease_owner: 'host/pipeline-worker-0/42' });
  });

  it('lists, shows, replays and deletes quarantined messages', async () => {
    const q = fixture.quarantine;
    expect((await stv3Json<{ id: number }[]>(['quarantine', 'list'])).map((r) => r.id)).toEqual([q.west, q.duplicate, q.bad, q.good]);
    expect(await stv3Json(['quarantine', 'list', '--count', '--cell', 'east'])).toEqual([{ count: 3 }]);
    const shown = await stv3(['quarantine', 'show', String(q.good)]);
    expect(shown.stdout).toMatch(/body \(utf-8\):\n\{\n {2}"oslo\.version": "2\.0",\n {2}"oslo\.message": \{\n/);
    const replay = await stv3(['quarantine', 'replay', String(q.good), String(q.bad), '--json'], { STV3_API_TOKEN: TOKEN });
    expect(replay.code).toBe(1);
    expect(replay.stderr).toMatch(/1 of 2 still fail; they stay in quarantine/);
    expect((JSON.parse(replay.stdout) as { outcome: string }[]).map((r) => r.outcome)).toEqual(['stored', 'poison']);
    const deleted = await stv3(['quarantine', 'delete', String(q.bad)], { STV3_API_TOKEN: TOKEN });
    expect(deleted.stdout).toBe(`quarantine ${q.bad}: deleted\n`);
    expect((await stv3(['quarantine', 'show', String(q.bad)])).code).toBe(3);
    expect((await stv3(['quarantine', 'replay'])).code).toBe(2);
  });

  it('prints the status, with the ingest rate between two readings', async () => {
    const s = await stv3Json<{ cells: { cell: string }[]; ingest_rate: Record<string, number>; streams_by_state: Record<string, number> }>(['status', '--interval', '0.2']);
    expect(s.cells.map((c) => c.cell)).toEqual(['east']);
    expect(s.ingest_rate).toEqual({ east: 0 });
    expect(s.streams_by_state['firing']).toBe(1);
    const text = await stv3(['status', '--interval', '0.2']);
    expect(text.stdout).toMatch(/│ east +│ 6 +│ 0\.0 +│ 2014-08-02 01:00:00\.250000 │/);
    expect(text.stdout).toMatch(/oldest due stream: \d+ \(.*waiting .*days\)/);
    expect(text.stdout).toMatch(/quarantine: \d+ messages/);
  });
});

describe('the API process', () => {
  it('reads quincy.conf (enabled_versions) and stops gracefully on SIGTERM', async () => {
    const quincy = join(dirname(winchester), 'quincy.conf');
    writeFileSync(quincy, `[global]\nenabled_versions = 1\nv1_impl = quince.v1_impl:Impl\n[quince]\nwinchester_config = ${winchester}\n`);
    const { proc, url: v1 } = await startApiProcess(quincy);
    expect((await fetch(`${v1}/v1/streams/count`)).status).toBe(200);
    expect((await fetch(`${v1}/v2/streams/count`)).status).toBe(404);
    proc.kill('SIGTERM');
    expect(await proc.exited()).toBe(0);
  });

  it('refuses to start beyond loopback with mutations open and no token, naming the fix', async () => {
    const open = writeApiWinchester(db);
    const proc = startProcess('api/main.js', ['--config', open, '--host', '0.0.0.0', '--port', '0']);
    expect(await proc.exited()).toBe(1);
    expect(proc.stderr.join('')).toMatch(/api: configuration error: .*winchester\.yaml: api_token: the API would listen on 0\.0\.0\.0 and let anyone reset, delete and replay: set api_token/);
    const bad = startProcess('api/main.js', ['--config', writeApiWinchester(db, 'api_token: short\n')]);
    expect(await bad.exited()).toBe(1);
    expect(bad.stderr.join('')).toMatch(/api_token: at least 16 characters/);
  });
});
