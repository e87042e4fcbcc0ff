/**
 * notigen's files and pacing: JSON lines written and read back (plain and gzip, told by the
 * content), bare notifications accepted on replay, bad lines named by file and line; the rate
 * cap and the real-time mode.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeNotification } from '../../src/shared/amqp/oslo.js';
import { DateTime } from '../../src/shared/time.js';
import { asOutgoing, createGenerator, inRealTime, RateLimiter, readNotificationFile, writeNotificationFile, type OutgoingNotification } from '../../src/notigen/index.js';
import { TEMPLATES } from '../helpers/notifications.js';

const dir = mkdtempSync(join(tmpdir(), 'notigen-files-'));
const START = DateTime.of(2015, 2, 1);

function messages(count: number, seed = 3): OutgoingNotification[] {
  return [...asOutgoing(createGenerator({ templates: TEMPLATES, seed, start: START, count, cells: ['c1'] }))];
}

async function readAll(path: string, cell?: string): Promise<OutgoingNotification[]> {
  const out: OutgoingNotification[] = [];
  for await (const m of readNotificationFile(path, cell)) out.push(m);
  return out;
}

describe('notigen files', () => {
  it('write one oslo 2.0 envelope per line, plain or gzip, and read back the same messages in order', async () => {
    const sent = messages(500);
    for (const name of ['a.jsonl', 'a.jsonl.gz']) {
      const path = join(dir, name);
      const result = await writeNotificationFile(path, sent);
      expect(result).toMatchObject({ published: 500, confirmed: 500, aborted: false });
      const raw = readFileSync(path);
      const text = name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      const lines = text.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toEqual(sent.map((m) => m.body));
      expect(JSON.parse(lines[0]!)).toEqual({ 'oslo.version': '2.0', 'oslo.message': expect.any(String) });
      const back = await readAll(path, 'c1');
      expect(back.map((m) => m.body)).toEqual(sent.map((m) => m.body));
      expect(back.map((m) => m.priority)).toEqual(sent.map((m) => m.priority));
      expect(back.map((m) => m.time?.toString())).toEqual(sent.map((m) => m.time?.toString()));
      expect(back.every((m) => m.cell === 'c1')).toBe(true);
    }
    expect(new Set(sent.map((m) => m.priority))).toEqual(new Set(['info', 'error']));
  });

  it('gzip output is the same bytes for the same input', async () => {
    await writeNotificationFile(join(dir, 'x.gz'), messages(200));
    await writeNotificationFile(join(dir, 'y.gz'), messages(200));
    expect(readFileSync(join(dir, 'x.gz')).equals(readFileSync(join(dir, 'y.gz')))).toBe(true);
  });

  it('tell gzip by its content, skip empty lines, and wrap bare notifications in a 2.0 envelope holding the line unchanged', async () => {
    const bare = '{"event_type": "compute.instance.update", "message_id": "m-1", "priority": "ERROR", "timestamp": "2015-02-01 10:00:00.123456", "payload": {"big": 12345678901234567890}}';
    const envelope = messages(1)[0]!.body;
    const path = join(dir, 'mixed.data');
    writeFileSync(path, gzipSync(`${bare}\r\n\n${envelope}\n`));
    const [first, second, third] = await readAll(path);
    expect(third).toBeUndefined();
    expect(first!.cell).toBeUndefined();
    expect(JSON.parse(first!.body)).toEqual({ 'oslo.version': '2.0', 'oslo.message': bare });
    expect(first!.priority).toBe('error');
    expect(first!.time!.equals(DateTime.of(2015, 2, 1, 10, 0, 0, 123_456))).toBe(true);
    expect(decodeNotification(first!.body)['message_id']).toBe('m-1');
    expect(second!.body).toBe(envelope);
  });

  it('name the file and line of a line that is not a notification', async () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, `${messages(1)[0]!.body}\n{"oslo.version": "2.0", "oslo.message": "{not json"}\n`);
    await expect(readAll(path)).rejects.toThrow(`${path}:2: oslo.message is not JSON`);
    writeFileSync(path, '{"payload": {}}\n');
    await expect(readAll(path)).rejects.toThrow(`${path}:1: not a notification (no event_type)`);
  });
});

describe('notigen pacing', () => {
  it('RateLimiter lets n calls through in no less than (n - 1) / rate seconds', async () => {
    const limiter = new RateLimiter(200);
    const t0 = performance.now();
    for (let i = 0; i < 41; i++) await limiter.wait();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
    expect(() => new RateLimiter(0)).toThrow(/rate/);
  });

  it('inRealTime holds each message until its timestamp, and stops on abort', async () => {
    const now = DateTime.now();
    const items = [0, 150, 300].map((ms) => ({ time: now.plusMicros(ms * 1000) }));
    const t0 = performance.now();
    const seen: number[] = [];
    for await (const item of inRealTime(items)) {
      seen.push(performance.now() - t0);
      expect(DateTime.now().isBefore(item.time)).toBe(false);
    }
    expect(seen[2]).toBeGreaterThanOrEqual(280);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const late: unknown[] = [];
    for await (const item of inRealTime([{ time: DateTime.now().plusSeconds(60) }], abort.signal)) late.push(item);
    expect(late).toEqual([]);
  });
});
