/**
 * Start-up of the real yagi-worker process: bad configuration exits 1 with file, key and reason
 * before any connection is opened (the broker and database named here do not exist).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SANDBOX, UPSTREAM, writeCellConfig } from '../helpers/configs.js';
import { createTestDatabase } from '../helpers/db.js';
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

  it("refuses winchester-etc's triggers.yaml (map_distingushed_by typo) naming file, trigger and key", async () => {
    const cfg = writeCellConfig({ databaseUrl: 'mysql://nobody@192.0.2.1:9/none', exchange: 'x.bad', queue: 'q.bad', configDir: join(UPSTREAM, 'winchester-etc') });
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    expect(await worker.exited()).toBe(1);
    expect(worker.stderr.join('')).toMatch(/winchester-etc\/triggers\.yaml: trigger "test_trigger" match_criteria\[1\]\.map_distingushed_by: unknown key.*map_distinguished_by/);
  });

  it('a trigger naming a pipeline pipelines.yaml lacks: exit 1 naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stv3-defs-'));
    for (const f of ['event_definitions.yaml', 'triggers.yaml']) copyFileSync(join(SANDBOX, f), join(dir, f));
    writeFileSync(join(dir, 'pipelines.yaml'), 'test_fire_pipeline:\n  - logger\n');
    const cfg = writeCellConfig({ databaseUrl: 'mysql://nobody@192.0.2.1:9/none', exchange: 'x.bad', queue: 'q.bad', configDir: dir });
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    expect(await worker.exited()).toBe(1);
    expect(worker.stderr.join('')).toMatch(/triggers\.yaml: trigger "test_trigger" expire_pipeline: .*test_expire_pipeline/);
  });
});

describe('database checks at start', () => {
  it('a user without INSERT on event and UPDATE on stream: both workers exit 1 naming every missing privilege', async () => {
    const db = await createTestDatabase(import.meta.url);
    const user = `stv3c_${randomBytes(4).toString('hex')}`;
    try {
      await db.pool.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY 'pw'`);
      for (const t of ['event_type', 'trait', 'dist_trait', 'streamevent', 'quarantine']) await db.pool.query(`GRANT SELECT, INSERT ON \`${db.name}\`.\`${t}\` TO '${user}'@'127.0.0.1'`);
      await db.pool.query(`GRANT SELECT ON \`${db.name}\`.\`event\` TO '${user}'@'127.0.0.1'`);
      await db.pool.query(`GRANT SELECT, INSERT ON \`${db.name}\`.\`stream\` TO '${user}'@'127.0.0.1'`);
      await db.pool.query(`GRANT SELECT, INSERT, UPDATE ON \`${db.name}\`.\`ingest_cell\` TO '${user}'@'127.0.0.1'`);
      const url = new URL(db.url);
      url.username = user;
      url.password = 'pw';
      url.hostname = '127.0.0.1';
      const cfg = writeCellConfig({ databaseUrl: url.href, exchange: 'x.none', queue: 'q.none' });
      const yagi = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf, '--no-migrate']);
      expect(await yagi.exited()).toBe(1);
      expect(yagi.stderr.join('')).toMatch(/^yagi-worker: database server 10\.\S+: its user lacks INSERT on event, UPDATE on stream \(GRANT them/);
      const pipeline = startProcess('pipeline-worker/main.js', ['--config', cfg.winchesterYaml, '--no-migrate']);
      expect(await pipeline.exited()).toBe(1);
      expect(pipeline.stderr.join('')).toMatch(/^pipeline-worker: database server .*: its user lacks INSERT on event, UPDATE on stream, DELETE on stream/);
    } finally {
      await db.pool.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`);
      await db.close();
    }
  });
});

describe('broker login at start', () => {
  it('a wrong broker password is logged as an error naming what to check, and retried', async () => {
    const db = await createTestDatabase(`${import.meta.url}#broker`);
    try {
      const cfg = writeCellConfig({ databaseUrl: db.url, exchange: 'x.login', queue: 'q.login' });
      writeFileSync(cfg.yagiConf, readFileSync(cfg.yagiConf, 'utf8').replace(/^password = .*$/m, 'password = wrong-password'));
      const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
      const line = await worker.waitForLog((l) => /broker refused the login/.test(String(l['msg'])));
      expect(line['level']).toBe('error');
      expect(String(line['msg'])).toMatch(/check \[rabbit_broker\] user, password and vhost/);
      worker.kill('SIGTERM');
      await worker.exited();
    } finally {
      await db.close();
    }
  });
});
