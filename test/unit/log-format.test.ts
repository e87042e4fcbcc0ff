/**
 * Log formats (src/shared/logger.ts): JSON lines by default; STV3_LOG_FORMAT=pretty (the
 * deployment file's `log_format: pretty`) one readable line per record through pino-pretty;
 * anything else refused naming the variable. And ecosystem.config.js: `log_format` reaches every
 * app's environment, `name_prefix` every app's name, bad values stop it naming file and key.
 * Each case runs in a child process, since the logger writes to its stdout.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/processes.js';

const TSX = join(ROOT, 'node_modules/.bin/tsx');

/** Runs `code` (TypeScript, through tsx; or an ES module, through node) in a child with `env` added (undefined: removed). */
function tsx(code: string, env: Record<string, string | undefined>, runner: 'tsx' | 'node' = 'tsx'): Promise<{ code: number; stdout: string; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, STV3_LOG_FORMAT: undefined, STV3_DEPLOYMENT: undefined, FORCE_COLOR: undefined, ...env };
  for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
  return new Promise((resolve) => {
    const [file, args] = runner === 'tsx' ? [TSX, ['--eval', code]] : [process.execPath, ['--input-type=module', '--eval', code]];
    execFile(file, args, { cwd: ROOT, env: childEnv }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const LOG = `import { createLogger } from './src/shared/logger.ts';
const log = createLogger({ base: { app: 'yagi-worker', cell: 'east' } });
log.child({ component: 'ingest' }).info({ batch: 3 }, 'stored a batch');`;

describe('log format', () => {
  it('writes JSON lines by default', async () => {
    const r = await tsx(LOG, {});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ level: 'info', app: 'yagi-worker', cell: 'east', component: 'ingest', batch: 3, msg: 'stored a batch' });
  });

  it('writes one readable line per record with STV3_LOG_FORMAT=pretty, without colour when not on a terminal', async () => {
    const r = await tsx(LOG, { STV3_LOG_FORMAT: 'pretty' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \(yagi-worker\/east ingest\) stored a batch \{"batch":3\}\n$/);
  });

  it("cuts the statement text of a database error to its first 500 characters (a batch's INSERT can be megabytes)", async () => {
    const r = await tsx(
      `import { createLogger } from './src/shared/logger.ts';
const err = Object.assign(new Error("Data too long for column 't_string' at row 1"), { code: 'ER_DATA_TOO_LONG', sql: 'INSERT INTO trait VALUES ' + "('x'),".repeat(100000) });
createLogger({ base: { app: 'yagi-worker' } }).warn({ err }, 'retrying the batch');`,
      {},
    );
    expect(r.code).toBe(0);
    const line = JSON.parse(r.stdout.trim()) as { err: { sql: string; code: string; message: string; stack: string } };
    expect(r.stdout.length).toBeLessThan(3000);
    expect(line.err.sql).toBe(`INSERT INTO trait VALUES ${"('x'),".repeat(100000)}`.slice(0, 500) + '… (600025 characters)');
    expect(line.err).toMatchObject({ code: 'ER_DATA_TOO_LONG', message: "Data too long for column 't_string' at row 1" });
  });

  it('refuses another format, naming the variable', async () => {
    const r = await tsx(LOG, { STV3_LOG_FORMAT: 'xml' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('STV3_LOG_FORMAT: expected one of json, pretty, got "xml"');
  });
});

describe('ecosystem.config.js', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stv3-eco-'));
  writeFileSync(join(dir, 'winchester.yaml'), 'database: {url: mysql://root@127.0.0.1/x}\n');
  writeFileSync(join(dir, 'yagi-a.conf'), '[global]\n');
  const deployment = (extra: string): string => {
    const file = join(dir, `deployment-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `winchester_config: winchester.yaml\npipeline_workers: 1\ncells:\n  - {name: a, yagi_config: yagi-a.conf}\napi: {port: 8123}\n${extra}`);
    return file;
  };
  const apps = `const { default: c } = await import('./ecosystem.config.js'); console.log(JSON.stringify(c.apps.map((a) => [a.name, a.env.STV3_LOG_FORMAT])));`;

  it('passes log_format to every app and puts name_prefix before every name', async () => {
    const r = await tsx(apps, { STV3_DEPLOYMENT: deployment('log_format: pretty\nname_prefix: sandbox-\n') }, 'node');
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([
      ['sandbox-yagi-a', 'pretty'],
      ['sandbox-pipeline-worker', 'pretty'],
      ['sandbox-api', 'pretty'],
    ]);
    const plain = await tsx(apps, { STV3_DEPLOYMENT: deployment('') }, 'node');
    expect(JSON.parse(plain.stdout)).toEqual([
      ['yagi-a', 'json'],
      ['pipeline-worker', 'json'],
      ['api', 'json'],
    ]);
  });

  it('stops on a duplicate cell, a bad kill_timeout_seconds, an unknown key or bad YAML, naming file and key', async () => {
    const cases: [string, string][] = [
      ['cells:\n  - {name: a, yagi_config: yagi-a.conf}\n  - {name: a, yagi_config: yagi-a.conf}\n', 'cells[1].name: duplicate cell "a"'],
      ['kill_timeout_seconds: soon\n', 'kill_timeout_seconds: seconds'],
      ['pipline_workers: 3\n', 'pipline_workers: unknown key'],
      ['extra: [unclosed\n', 'not valid YAML'],
    ];
    for (const [extra, message] of cases) {
      const file = join(dir, `deployment-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, extra.startsWith('cells') ? `winchester_config: winchester.yaml\n${extra}` : `winchester_config: winchester.yaml\ncells:\n  - {name: a, yagi_config: yagi-a.conf}\n${extra}`);
      const r = await tsx(apps, { STV3_DEPLOYMENT: file }, 'node');
      expect(r.code, extra).not.toBe(0);
      expect(r.stderr, extra).toContain(`${file}: ${message}`);
    }
  });

  it('stops on a bad log_format or name_prefix, naming file and key', async () => {
    const file = deployment('log_format: colourful\n');
    const r = await tsx(apps, { STV3_DEPLOYMENT: file }, 'node');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}: log_format: json or pretty`);
    const prefixed = deployment('name_prefix: "a b"\n');
    expect((await tsx(apps, { STV3_DEPLOYMENT: prefixed }, 'node')).stderr).toContain(`${prefixed}: name_prefix: letters, digits, _ . -`);
  });
});
