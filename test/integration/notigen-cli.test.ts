/**
 * `stv3 notigen` as a user runs it (the built dist/cli/main.js): reproducible files, bad
 * options refused with exit 2 naming the option, a missing file exit 3, an unreachable broker
 * exit 1 with the cell named.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNotification } from '../../src/shared/amqp/oslo.js';
import { DateTime } from '../../src/shared/time.js';
import { notigen } from '../helpers/notigen.js';

const dir = mkdtempSync(join(tmpdir(), 'notigen-cli-'));

const FIXED = ['--seed', '42', '--start', '2015-02-01 00:00:00'];

describe('stv3 notigen --to-file', () => {
  it('gives byte-identical files for the same --seed and --start, plain and gzip, and another file for another seed', async () => {
    const [a, b, gz, other] = ['a.jsonl', 'b.jsonl', 'c.jsonl.gz', 'd.jsonl'].map((f) => join(dir, f)) as [string, string, string, string];
    const results = await Promise.all([
      notigen([...FIXED, '--count', '3000', '--to-file', a]),
      notigen([...FIXED, '--count', '3000', '--to-file', b]),
      notigen([...FIXED, '--count', '3000', '--to-file', gz]),
      notigen(['--seed', '43', '--start', '2015-02-01 00:00:00', '--count', '3000', '--to-file', other]),
    ]);
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(results[0]!.stdout).toMatch(/^notigen: 3000 notifications written to .*a\.jsonl in [\d.]+ s \(\d+\/s\); seed 42; \d+ operations, \d+ end-of-day exists; simulated 2015-02-01 00:00:00 → 2015-02-0\d/m);
    const bytes = readFileSync(a);
    expect(bytes.length).toBeGreaterThan(3000 * 1000);
    expect(readFileSync(b).equals(bytes)).toBe(true);
    expect(gunzipSync(readFileSync(gz)).equals(bytes)).toBe(true);
    expect(readFileSync(other).equals(bytes)).toBe(false);
    const lines = bytes.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3000);
    const first = decodeNotification(lines[0]!);
    expect(first['timestamp']).toBe('2015-02-01 00:00:00');
    expect(new Set(lines.map((l) => decodeNotification(l)['message_id'])).size).toBe(3000);
  });

  it('without --count runs one simulated day and the end-of-day .exists after its midnight', async () => {
    const file = join(dir, 'day.jsonl');
    const r = await notigen([...FIXED, '--ops-per-hour', '20', '--instances', '10', '--to-file', file]);
    expect(r.code, r.stderr).toBe(0);
    const notifications = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => decodeNotification(l));
    const eod = notifications.filter((n) => n['event_type'] === 'compute.instance.exists' && (n['payload'] as Record<string, unknown>)['audit_period_ending'] === '2015-02-02 00:00:00');
    expect(eod.length).toBeGreaterThanOrEqual(10);
    expect(notifications.at(-1)!['timestamp'] as string < '2015-02-02 00:15:00').toBe(true);
  });
});

describe('stv3 notigen --realtime', () => {
  it('stamps notifications with the wall clock and sends each when its time comes', async () => {
    const file = join(dir, 'realtime.jsonl');
    const before = DateTime.now();
    const t0 = performance.now();
    // one operation every 0.2 s; a create's first notifications are seconds apart
    const r = await notigen(['--realtime', '--ops-per-hour', '18000', '--instances', '5', '--count', '30', '--to-file', file]);
    const elapsedMs = performance.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    const times = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => DateTime.parse(String(decodeNotification(l)['timestamp'])));
    expect(times).toHaveLength(30);
    expect(times[0]!.isBefore(before)).toBe(false);
    const spanMs = times.at(-1)!.diffMicros(times[0]!) / 1000;
    expect(spanMs).toBeGreaterThan(1000);
    expect(elapsedMs).toBeGreaterThanOrEqual(spanMs);
    expect(times.at(-1)!.isBefore(DateTime.now())).toBe(true);
  });
});

describe('stv3 notigen: errors', () => {
  it.each([
    [['--rate', 'fast'], /--rate must be a positive number, got "fast"/],
    [['--count', '-3'], /--count must be an integer ≥ 1, got "-3"/],
    [['--ops-per-hour', '0'], /--ops-per-hour must be a positive number/],
    [['--seed', '1.5'], /--seed must be an integer ≥ 0/],
    [['--start', 'yesterday'], /--start must be a UTC time/],
    [['--cell', 'nourl'], /--cell must be NAME=amqp:/],
    [['--cell', 'a=amqp://h', '--cell', 'a=amqp://g'], /--cell: cell a is given twice/],
    [['--realtime', '--start', '2015-02-01'], /--start is for fast mode/],
    [['--from-file', 'x.jsonl', '--seed', '3'], /--from-file replays a file: --seed only apply/],
    [['--from-file', 'x.jsonl', '--cell', 'a=amqp://h', '--cell', 'b=amqp://h'], /--from-file replays into one cell/],
    [['--to-file', 'x.jsonl', '--rate', '10'], /--to-file writes a file: --rate only applies/],
    [['--no-such-option'], /unknown option '--no-such-option'/],
  ])('%j → exit 2 naming the option', async (args, message) => {
    const r = await notigen(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('a missing --from-file is exit 3, an unreachable broker exit 1 naming the cell', async () => {
    const missing = await notigen(['--from-file', join(dir, 'nope.jsonl')]);
    expect(missing).toMatchObject({ code: 3, stderr: expect.stringMatching(/--from-file: .*nope\.jsonl: no such file/) });
    const down = await notigen([...FIXED, '--count', '5', '--cell', 'east=amqp://guest:secret@127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cell east: cannot connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1/);
    expect(down.stderr).not.toContain('secret');
  });
});
