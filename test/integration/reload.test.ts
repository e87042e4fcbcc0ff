/**
 * Reload without restart (issue 13): SIGHUP makes a worker re-read event definitions, triggers
 * and pipelines; a new configuration that fails validation is rejected with the same clear
 * error and the old one stays in force.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { SANDBOX, writeCellConfig } from '../helpers/configs.js';
import { insertQuarantine } from '../../src/shared/store/quarantine.js';
import { count, createTestDatabase } from '../helpers/db.js';
import { eventually, startProcess } from '../helpers/processes.js';

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

let seq = 0;
function update(instance: string, tenant: string): Notification {
  return { message_id: `r-${++seq}`, event_type: 'compute.instance.update', timestamp: '2015-02-01 10:00:00', publisher_id: 'compute.h1', priority: 'INFO', payload: { instance_id: instance, tenant_id: tenant } };
}

const BY_TENANT = `
- name: by_tenant
  distinguished_by: [tenant_id]
  expiration: "$last + 1d"
  expire_pipeline: test_expire_pipeline
  match_criteria: [{event_type: compute.instance.*}]
  fire_criteria: [{event_type: never}]
`;

describe('SIGHUP reload', () => {
  it('yagi-worker: a new trigger applies to what arrives after the signal; a broken file is rejected and the previous triggers stay', async () => {
    const db = await createTestDatabase(`${import.meta.url}#yagi`);
    const exchange = randomName('nova');
    const queue = randomName('notifications.reload');
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange, queue, localFilesFirst: true });
    for (const f of ['event_definitions.yaml', 'triggers.yaml', 'pipelines.yaml']) copyFileSync(join(SANDBOX, f), join(cfg.dir, f));
    const sandboxTriggers = readFileSync(join(cfg.dir, 'triggers.yaml'), 'utf8');
    const worker = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    const streamsOf = (name: string): Promise<number> => count(db.pool, 'SELECT COUNT(*) AS n FROM stream WHERE name = ?', [name]);
    try {
      await worker.ready();
      await publisher.publishAll(exchange, queue, [encodeOsloV2(update('i-1', 't-1'))]);
      await eventually(() => count(db.pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 1);
      expect(await streamsOf('by_tenant')).toBe(0);

      writeFileSync(join(cfg.dir, 'triggers.yaml'), sandboxTriggers + BY_TENANT);
      worker.kill('SIGHUP');
      const reloaded = await worker.waitForLog((l) => /^configuration reloaded: event definitions and 2 triggers \(test_trigger, by_tenant\)/.test(String(l['msg'])));
      expect(reloaded['level']).toBe('info');
      await publisher.publishAll(exchange, queue, [encodeOsloV2(update('i-2', 't-2'))]);
      await eventually(() => streamsOf('by_tenant'), (n) => n === 1);

      writeFileSync(join(cfg.dir, 'triggers.yaml'), `${sandboxTriggers + BY_TENANT}  bogus_key: 1\n`);
      worker.kill('SIGHUP');
      const rejected = await worker.waitForLog((l) => /^reload rejected, the previous configuration stays in force: configuration error: .*triggers\.yaml: trigger "by_tenant" bogus_key: unknown key/.test(String(l['msg'])));
      expect(rejected['level']).toBe('error');
      await publisher.publishAll(exchange, queue, [encodeOsloV2(update('i-3', 't-3'))]);
      await eventually(() => streamsOf('by_tenant'), (n) => n === 2);
      expect(await streamsOf('test_trigger')).toBe(3);
      expect(worker.child.exitCode).toBeNull();
    } finally {
      worker.kill('SIGTERM');
      await worker.exited();
      await publisher.ch.deleteQueue(queue);
      await publisher.ch.deleteExchange(exchange);
      await db.close();
    }
  });

  it('pipeline-worker: reloads pipelines; a handler that does not exist is rejected naming it', async () => {
    const db = await createTestDatabase(`${import.meta.url}#pipeline`);
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange: 'x', queue: 'q', localFilesFirst: true });
    for (const f of ['event_definitions.yaml', 'triggers.yaml']) copyFileSync(join(SANDBOX, f), join(cfg.dir, f));
    writeFileSync(join(cfg.dir, 'pipelines.yaml'), 'test_fire_pipeline: [logger]\ntest_expire_pipeline: [logger]\n');
    const worker = startProcess('pipeline-worker/main.js', ['--config', cfg.winchesterYaml]);
    try {
      await worker.ready();
      writeFileSync(join(cfg.dir, 'pipelines.yaml'), 'test_fire_pipeline: [logger, usage]\ntest_expire_pipeline: [logger]\n');
      worker.kill('SIGHUP');
      await worker.waitForLog((l) => /^configuration reloaded: 1 triggers and 2 pipelines/.test(String(l['msg'])));
      writeFileSync(join(cfg.dir, 'pipelines.yaml'), 'test_fire_pipeline: [logger, nosuch]\ntest_expire_pipeline: [logger]\n');
      worker.kill('SIGHUP');
      await worker.waitForLog((l) => /^reload rejected, .*pipelines\.yaml: test_fire_pipeline\[1\]: unknown handler "nosuch"/.test(String(l['msg'])));
      expect(worker.child.exitCode).toBeNull();
    } finally {
      worker.kill('SIGTERM');
      await worker.exited();
      await db.close();
    }
  });

  it('api: re-reads event definitions, so a quarantined message replays after its definition is added; the process stays up', async () => {
    const db = await createTestDatabase(`${import.meta.url}#api`);
    const cfg = writeCellConfig({ databaseUrl: db.url, exchange: 'x', queue: 'q', localFilesFirst: true });
    const definitions = join(cfg.dir, 'event_definitions.yaml');
    copyFileSync(join(SANDBOX, 'event_definitions.yaml'), definitions);
    const body = { message_id: 'reload-1', event_type: 'test.reload.thing', timestamp: '2015-02-01 10:00:00', payload: { instance_id: 'i-1' } };
    await insertQuarantine(db.pool, [{ cell: 'c', queue: 'q', reason: 'no definition yet', body: Buffer.from(encodeOsloV2(body)) }]);
    const api = startProcess('api/main.js', ['--config', cfg.winchesterYaml, '--port', '0']);
    try {
      await api.ready();
      const url = String((await api.waitForLog((l) => l['msg'] === 'api listening'))['address']);
      const replay = async (): Promise<unknown> => (await fetch(`${url}/v2/quarantine/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [1] }) })).json();
      expect(await replay()).toEqual([{ id: 1, outcome: 'poison', reason: expect.stringMatching(/no event definition matches event_type "test.reload.thing"/) as unknown }]);
      writeFileSync(definitions, `${readFileSync(definitions, 'utf8')}\n- event_type: test.reload.thing\n  traits:\n    instance_id:\n      fields: payload.instance_id\n`);
      api.kill('SIGHUP');
      await api.waitForLog((l) => /^configuration reloaded: \d+ triggers, event definitions/.test(String(l['msg'])));
      expect(await replay()).toEqual([{ id: 1, outcome: 'stored', message_id: 'reload-1', event_type: 'test.reload.thing' }]);
      expect(api.child.exitCode).toBeNull();
    } finally {
      api.kill('SIGTERM');
      await api.exited();
      await db.close();
    }
  });
});
