/**
 * Replaying 2015 notifications end to end, as operators do with upstream's time sync: a
 * yagi-worker posts each notification's time to `stv3 time-sync`, pipeline workers read it, so
 * streams fire and expire relative to event time. Upstream sandbox definitions and triggers,
 * pipelines logger + usage: a stream with its end-of-day .exists fires and is verified; one
 * without expires two days after its last event and gets a U0 failure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeOsloV2, type Notification } from '../../src/shared/amqp/oslo.js';
import { instantiate, seededRandom } from '../../src/notigen/templates.js';
import { decodeTraits } from '../../src/shared/store/trait-codec.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { DateTime } from '../../src/shared/time.js';
import { Publisher, randomName } from '../helpers/amqp.js';
import { writeCellConfig } from '../helpers/configs.js';
import { count, createTestDatabase } from '../helpers/db.js';
import { sandboxDistiller, TEMPLATES } from '../helpers/notifications.js';
import { eventually, freePort, startProcess } from '../helpers/processes.js';

let publisher: Publisher;
beforeAll(async () => {
  publisher = await Publisher.open();
});
afterAll(async () => {
  await publisher.close();
});

/** One create lifecycle on `day` per instance; an EOD .exists for those with `withExists`. */
function lifecycles(day: DateTime, n: number, withExists: (i: number) => boolean, random: () => number): { notifications: Notification[]; instances: string[] } {
  const create = TEMPLATES.find((t) => t.name === 'compute.instance.create.start_24')!;
  const eod = TEMPLATES.find((t) => t.name === 'eod_exists')!;
  const distiller = sandboxDistiller();
  const notifications: Notification[] = [];
  const instances: string[] = [];
  for (let i = 0; i < n; i++) {
    const lifecycle = instantiate(create, day.plusSeconds(3600 * (1 + i)), random).filter((x) => DateTime.parse(String(x['timestamp'])).startOfDay().equals(day) && distiller.distill(x, day) !== null);
    const instance = String((lifecycle[0]!['payload'] as Record<string, unknown>)['instance_id']);
    instances.push(instance);
    notifications.push(...lifecycle);
    if (withExists(i)) {
      const launched = (lifecycle.at(-1)!['payload'] as Record<string, unknown>)['launched_at'];
      notifications.push(
        ...instantiate(eod, day.plusSeconds(86_400 + 300 + i), random, {
          payload: { instance_id: instance, audit_period_beginning: day.toString(), audit_period_ending: day.plusSeconds(86_400).toString(), launched_at: launched, state: 'active', deleted_at: '' },
        }),
      );
    }
  }
  return { notifications, instances };
}

describe('replay with time sync', () => {
  it('2015 notifications: streams fire and expire by event time, and the usage audit runs', async () => {
    const db = await createTestDatabase(import.meta.url);
    const port = await freePort();
    const timeSync = startProcess('cli/main.js', ['time-sync', '--port', String(port)]);
    await timeSync.waitForLog((l) => /listening/.test(String(l['msg'])));
    const exchange = randomName('nova');
    const queue = randomName('notifications.info');
    const cfg = writeCellConfig({
      databaseUrl: db.url,
      exchange,
      queue,
      maxMessages: 20,
      localFilesFirst: true,
      winchesterExtra: `time_sync_endpoint: http://127.0.0.1:${port}\ntime_sync_poll_seconds: 0.2\npipeline_worker_poll_ms: 100\n`,
    });
    // The sandbox triggers and definitions, with logger + usage pipelines (no notabene here).
    writeFileSync(join(cfg.dir, 'pipelines.yaml'), 'test_fire_pipeline: [logger, usage]\ntest_expire_pipeline: [logger, usage]\n');
    const yagi = startProcess('yagi-worker/main.js', ['--config', cfg.yagiConf]);
    const pipeline = startProcess('pipeline-worker/main.js', ['--config', cfg.winchesterYaml]);
    try {
      await Promise.all([yagi.ready(), pipeline.ready()]);
      const random = seededRandom(77);
      const day = DateTime.of(2015, 5, 4);
      const first = lifecycles(day, 6, (i) => i % 2 === 0, random);
      // Later traffic moves the replay clock past day D + 3, so the streams without .exists expire.
      const later = lifecycles(day.plusSeconds(4 * 86_400), 2, () => false, random);
      await publisher.publishAll(exchange, queue, [...first.notifications, ...later.notifications].map(encodeOsloV2));

      const dayStreams = `SELECT s.id, s.state, s.fire_timestamp, d.dt_string AS instance FROM stream s JOIN dist_trait d ON d.stream_id = s.id AND d.name = 'instance_id'
                          JOIN dist_trait t ON t.stream_id = s.id AND t.name = 'timestamp' AND t.dt_timerange_begin = ?`;
      await eventually(
        async () => ((await db.pool.query(dayStreams, [day.toSql()]))[0] as { state: number }[]).map((r) => r.state),
        (states) => states.length === 6 && states.every((s) => s === StreamState.completed),
        60_000,
      );
      const rows = (await db.pool.query(dayStreams, [day.toSql()]))[0] as { id: number; fire_timestamp: string | null; instance: string }[];
      for (const [i, instance] of first.instances.entries()) {
        const row = rows.find((r) => r.instance === instance)!;
        // Fired (EOD .exists seen) or expired: fire_timestamp tells which path it took.
        expect(row.fire_timestamp === null, instance).toBe(i % 2 !== 0);
      }
      // The usage audit's events: verified for the fired streams, U0 failures for the expired ones.
      const [generated] = await db.pool.query(
        "SELECT t.`desc` AS event_type, e.traits FROM event e JOIN event_type t ON t.id = e.event_type_id WHERE t.`desc` LIKE 'compute.instance.exists.%'",
      );
      const audit = (generated as { event_type: string; traits: string }[]).map((g) => ({ type: g.event_type, traits: decodeTraits(g.traits) }));
      const byInstance = new Map(audit.map((a) => [a.traits['instance_id'], a]));
      for (const [i, instance] of first.instances.entries()) {
        const a = byInstance.get(instance)!;
        expect(a, instance).toBeDefined();
        if (i % 2 === 0) expect(a.type).toBe('compute.instance.exists.verified');
        else expect(a).toMatchObject({ type: 'compute.instance.exists.failed', traits: { error_code: 'U0', error: 'Notifications, but no .exists notification found.' } });
      }
      // The later streams are still open: the replay clock has not passed their expiry.
      expect(await count(db.pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.active} AND last_event > ?`, [day.plusSeconds(4 * 86_400).toSql()])).toBe(2);
    } finally {
      for (const p of [yagi, pipeline, timeSync]) p.kill('SIGTERM');
      await Promise.all([yagi.exited(), pipeline.exited(), timeSync.exited()]);
      await publisher.ch.deleteQueue(queue).catch(() => undefined);
      await publisher.ch.deleteExchange(exchange).catch(() => undefined);
      await db.close();
    }
  });
});
