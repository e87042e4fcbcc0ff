/**
 * `stv3 check` (issue 13): every configuration file validated, all errors at once, and a
 * dry-run replay of a notification file without a database.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { SANDBOX, winchesterYamlText } from '../helpers/configs.js';
import { makeNotifications } from '../helpers/notifications.js';
import { ROOT } from '../helpers/processes.js';

const run = promisify(execFile);

async function stv3(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A config directory with the sandbox files; `edit` may break some. No database exists at this URL. */
function configDir(edit: (dir: string) => void = () => undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-check-'));
  for (const f of ['event_definitions.yaml', 'triggers.yaml', 'pipelines.yaml']) copyFileSync(join(SANDBOX, f), join(dir, f));
  writeFileSync(join(dir, 'winchester.yaml'), winchesterYamlText({ databaseUrl: 'mysql://nobody@192.0.2.1:9/none', configPath: [dir] }));
  writeFileSync(join(dir, 'yagi-c1.conf'), `[rabbit_broker]\nhost = localhost\n[consumers]\nqueues = notifications.info\n[consumer:notifications.info]\napps = winchester.yagi_handler.WinchesterHandler\nexchange = nova\nmax_messages = 100\n[winchester]\nconfig_file = ${join(dir, 'winchester.yaml')}\n`);
  edit(dir);
  return dir;
}

describe('stv3 check', () => {
  it('the sandbox files are fine; a replay shows events, streams and when they would fire, without a database', async () => {
    const dir = configDir();
    const notifications = makeNotifications(300, 3);
    const file = join(dir, 'traffic.jsonl.gz');
    // …and a line that is not valid UTF-8 (0xFF), reported as the worker reports it.
    const badUtf8 = Buffer.concat([Buffer.from('{"event_type": "compute.instance.update", "message_id": "m'), Buffer.from([0xff]), Buffer.from('"}\r\n')]);
    writeFileSync(file, gzipSync(Buffer.concat([Buffer.from(`${[...notifications.map(encodeOsloV2), '{"not": "a notification"}'].join('\n')}\n\n`), badUtf8])));
    const r = await stv3('check', '--config', join(dir, 'winchester.yaml'), '--yagi', join(dir, 'yagi-c1.conf'), '--replay', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { files: { what: string; error: string | null }[]; replay: { lines: number; events: number; quarantined: { reason: string; count: number }[]; triggers: { trigger: string; streams: number; events: number }[] } };
    expect(out.files.every((f) => f.error === null)).toBe(true);
    expect(out.files).toHaveLength(6);
    expect(out.replay.lines).toBe(302);
    expect(out.replay.events).toBe(300);
    expect(out.replay.quarantined).toHaveLength(2);
    expect(out.replay.quarantined).toEqual(
      expect.arrayContaining([
        { reason: expect.stringMatching(/event_type/) as unknown, count: 1 },
        { reason: expect.stringMatching(/not valid UTF-8 \(byte 0xFF at offset 58\)/i) as unknown, count: 1 },
      ]),
    );
    const [trigger] = out.replay.triggers;
    expect(trigger).toMatchObject({ trigger: 'test_trigger' });
    expect(trigger!.streams).toBeGreaterThan(10);
    expect(trigger!.events).toBeGreaterThan(250);
    const text = await stv3('check', '--config', join(dir, 'winchester.yaml'), '--replay', file);
    expect(text.stdout).toMatch(/^ok {5}.*winchester\.yaml$/m);
    expect(text.stdout).toMatch(/test_trigger, first streams:/);
  });

  it('several broken files: each error printed, with file and key, exit 1', async () => {
    const dir = configDir((d) => {
      writeFileSync(join(d, 'triggers.yaml'), readFileSync(join(d, 'triggers.yaml'), 'utf8').replace('expiration: "$last + 2d"', 'expiration: "$last +"'));
      writeFileSync(join(d, 'pipelines.yaml'), 'test_fire_pipeline:\n  - logger\n  - name: nosuch\ntest_expire_pipeline:\n  - logger\n');
      writeFileSync(join(d, 'yagi-c1.conf'), readFileSync(join(d, 'yagi-c1.conf'), 'utf8').replace('max_messages = 100', 'max_messages = lots'));
    });
    const r = await stv3('check', '--config', join(dir, 'winchester.yaml'), '--yagi', join(dir, 'yagi-c1.conf'));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok {5}event definitions/m);
    expect(r.stdout).toMatch(/^ERROR {2}triggers \(trigger_definitions\): .*triggers\.yaml: trigger "test_trigger" expiration: /m);
    expect(r.stdout).toMatch(/^ERROR {2}pipeline handlers .*pipelines\.yaml: test_fire_pipeline\[1\]: unknown handler "nosuch"/m);
    expect(r.stdout).toMatch(/^ERROR {2}.*yagi-c1\.conf: .*yagi-c1\.conf:\d+: \[consumer:notifications\.info\] max_messages: expected an integer, got "lots"/m);
    expect(r.stderr).toMatch(/3 configuration files have errors/);
  });
});
