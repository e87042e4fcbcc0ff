/**
 * Start-up of the real yagi-worker process: bad configuration exits 1 with file, key and reason
 * before any connection is opened (the broker and database named here do not exist).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeCellConfig } from '../helpers/configs.js';
import { startProcess } from '../helpers/processes.js';

describe('yagi-worker start-up', () => {
  const cases: [string, (yagi: string, winchester: string) => [string, string], RegExp][] = [
    ['max_messages not a number', (y, w) => [y.replace(/max_messages = \d+/, 'max_messages = many'), w], /configuration error: .*yagi-cell1\.conf:\d+: \[consumer:q\.bad\] max_messages: expected an integer, got "many"/],
    ['database url missing', (y, w) => [y, w.replace(/ {2}url: .*\n/, '  echo_sql: false\n')], /configuration error: .*winchester\.yaml: database\.url: /],
    ['event definitions not found', (y, w) => [y, w.replace('distiller_config: event_definitions.yaml', 'distiller_config: missing.yaml')], /configuration error: .*winchester\.yaml: distiller_config: missing\.yaml not found/],
  ];

  it.each(cases)('%s: exits 1 naming file and key, without connecting', async (_name, edit, expected) => {
    const cfg = writeCellConfig({ databaseUrl: 'mysql://nobody@192.0.2.1:9/none', exchange: 'x.bad', queue: 'q.bad' });
    const [yagi, winchester] = edit(readFileSync(cfg.yagiConf, 'utf8'), readFileSync(cfg.winchesterYaml, 'utf8'));
    writeFileSync(cfg.yagiConf, yagi);
    writeFileSync(cfg.winchesterYaml, winchester);
    const started = Date.now();
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    expect(await worker.exited()).toBe(1);
    expect(worker.stderr.join('')).toMatch(expected);
    expect(Date.now() - started).toBeLessThan(5000); // no connection attempt to 192.0.2.1
  });

  it('exits 1 when no --config is given', async () => {
    const worker = startProcess('yagi-worker/main.js', []);
    expect(await worker.exited()).toBe(1);
    expect(worker.stderr.join('')).toMatch(/--config: no yagi\.conf given/);
  });
});
