/**
 * The fault scenarios of `npm run chaos` (issue 9). Each runs notigen traffic into the two
 * cells of a fresh Region while its fault happens, then the harness checks that every
 * published notification is an event exactly once or in quarantine, every stream completed or
 * errored with a reason, every pipeline ran once (or its retry is recorded), and that no
 * process needed an operator. `disruptive` scenarios stop a shared service (the broker or the
 * database): they run only with nothing else using the machine (CI runs them after the tests).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { brokerConnections, closeBrokerChannels, closeBrokerConnections, killDatabaseSessions } from '../helpers/faults.js';
import type { Region } from './region.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly disruptive: boolean;
  /** Runs the fault while `traffic` is being published; `scale` stretches the fault (--minutes). */
  readonly fault: (region: Region, traffic: Promise<void>, scale: number) => Promise<void>;
  /** Extra bodies published with the traffic. */
  readonly extra?: () => Buffer[];
}

/** Repeats `fn` every `everyMs` until `until` settles. */
async function during(until: Promise<void>, everyMs: number, fn: () => Promise<void>): Promise<void> {
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    await sleep(everyMs);
    if (!done) await fn();
  }
}

async function pids(region: Region, prefix: string): Promise<number[]> {
  return (await region.apps()).filter((a) => a.name.startsWith(prefix) && a.pid > 0).map((a) => a.pid);
}

function pick<T>(list: readonly T[]): T | undefined {
  return list[Math.floor(Math.random() * list.length)];
}

async function mariadbUp(): Promise<boolean> {
  return run('mariadb-admin', ['-uroot', '-h127.0.0.1', '--connect-timeout=2', 'ping']).then(
    () => true,
    () => false,
  );
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'sigkill',
    what: 'SIGKILL of yagi-workers and pipeline workers at random moments (pm2 restarts them)',
    disruptive: false,
    fault: (region, traffic) =>
      during(traffic, 1500, async () => {
        const pid = pick([...(await pids(region, 'yagi-')), ...(await pids(region, 'pipeline-worker'))]);
        if (pid) process.kill(pid, 'SIGKILL');
      }),
  },
  {
    name: 'broker-connections',
    what: 'rabbitmqctl close_connection of the workers, and a consumer channel closed under a worker',
    disruptive: false,
    fault: async (region, traffic) => {
      await sleep(1500);
      await closeBrokerConnections(await brokerConnections('stv3 yagi-worker'));
      await sleep(2000);
      for (const cell of ['c1', 'c2']) await closeBrokerChannels(`stv3 yagi-worker ${cell}`).catch(() => undefined);
      await traffic;
    },
  },
  {
    name: 'db-kill',
    what: 'KILL of the workers’ database sessions, again and again',
    disruptive: false,
    fault: (region, traffic) => during(traffic, 1200, async () => void (await killDatabaseSessions(region.pool, region.db))),
  },
  {
    name: 'grant',
    what: 'INSERT on event and quarantine revoked, restored after 30 s',
    disruptive: false,
    fault: async (region, traffic, scale) => {
      await sleep(1000);
      for (const t of ['event', 'quarantine']) await region.pool.query(`REVOKE INSERT ON \`${region.db}\`.\`${t}\` FROM '${region.user}'@'127.0.0.1'`);
      await sleep(30_000 * scale);
      for (const t of ['event', 'quarantine']) await region.pool.query(`GRANT INSERT ON \`${region.db}\`.\`${t}\` TO '${region.user}'@'127.0.0.1'`);
      await traffic;
    },
  },
  {
    name: 'lock-hold',
    what: 'a long transaction holding every stream row past the lock wait timeout',
    disruptive: false,
    fault: async (region, traffic, scale) => {
      await sleep(2000);
      const conn = await region.pool.getConnection();
      try {
        await conn.beginTransaction();
        await conn.query('SELECT id FROM stream FOR UPDATE');
        await sleep(25_000 * Math.max(scale, 1));
        await conn.commit();
      } finally {
        conn.release();
      }
      await traffic;
    },
  },
  {
    name: 'pm2-reload',
    what: '`pm2 reload all` and `pm2 scale pipeline-worker` 4 then 1 under load',
    disruptive: false,
    fault: async (region, traffic) => {
      await sleep(1000);
      await region.pm2('reload', 'all');
      await region.pm2('scale', 'pipeline-worker', '4');
      await sleep(2000);
      await region.pm2('scale', 'pipeline-worker', '1');
      await traffic;
    },
  },
  {
    name: 'time-sync',
    what: 'the time-sync endpoint down for 10 s, and its time moving backwards',
    disruptive: false,
    fault: async (region, traffic, scale) => {
      await sleep(1000);
      await region.stopTimeSync();
      await sleep(10_000 * scale);
      await region.startTimeSync();
      region.setTime('2015-01-01 00:00:00');
      await traffic;
    },
  },
  {
    name: 'hostile',
    what: '1,000 hostile bodies among the traffic',
    disruptive: false,
    extra: hostileBodies,
    fault: (_region, traffic) => traffic,
  },
  {
    name: 'broker-restart',
    what: 'RabbitMQ stopped and started (rabbitmqctl stop_app / start_app)',
    disruptive: true,
    fault: async (_region, traffic, scale) => {
      await sleep(1500);
      await run('rabbitmqctl', ['stop_app']);
      try {
        await sleep(5000 * scale);
      } finally {
        await run('rabbitmqctl', ['start_app']);
      }
      await traffic;
    },
  },
  {
    name: 'db-restart',
    what: 'MariaDB stopped and started',
    disruptive: true,
    fault: async (_region, traffic, scale) => {
      await sleep(1500);
      await run('mariadb-admin', ['-uroot', '-h127.0.0.1', 'shutdown']);
      try {
        await sleep(5000 * scale);
      } finally {
        await run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd']);
        for (let i = 0; i < 60 && !(await mariadbUp()); i++) await sleep(1000);
      }
      await traffic;
    },
  },
];

/**
 * The short form (CI, under 3 minutes): one region, most faults one after another during the
 * traffic, the hostile bodies mixed in. `disruptive` adds the broker and database restarts.
 */
export function combined(disruptive: boolean): Scenario {
  const byName = new Map(SCENARIOS.map((s) => [s.name, s]));
  const steps = ['sigkill', 'broker-connections', 'db-kill', 'time-sync', ...(disruptive ? ['broker-restart', 'db-restart'] : []), 'grant', 'pm2-reload'];
  return {
    name: 'combined',
    what: `${steps.join(', ')} and 1,000 hostile bodies, one after another`,
    disruptive,
    extra: hostileBodies,
    fault: async (region, traffic, scale) => {
      // Each step gets a moment of traffic of its own; SIGKILL and KILL loops run for 3 s.
      for (const name of steps) {
        const step = byName.get(name)!;
        await step.fault(region, name === 'sigkill' || name === 'db-kill' ? sleep(3000) : Promise.resolve(), scale);
        await sleep(500);
      }
      await traffic;
    },
  };
}

/**
 * Bodies a real deployment sees once in a while: broken JSON, wrong envelopes, huge and deeply
 * nested payloads, invalid UTF-8, wrong types in every field the sandbox definitions read, and
 * message_ids of every odd kind (one empty). Each has a unique message_id where it has one.
 */
export function hostileBodies(): Buffer[] {
  const out: Buffer[] = [];
  const base = (i: number, patch: Record<string, unknown> = {}, payload: Record<string, unknown> = {}): Record<string, unknown> => ({
    message_id: `hostile-${i}`,
    event_type: 'compute.instance.update',
    timestamp: '2015-02-01 12:00:00.000001',
    publisher_id: 'compute.host-1',
    priority: 'INFO',
    payload: { instance_id: `hostile-instance-${i}`, tenant_id: 't', launched_at: '2015-02-01 11:00:00', memory_mb: 512, ...payload },
    ...patch,
  });
  const kinds: ((i: number) => Buffer)[] = [
    (i) => Buffer.from(encodeOsloV2(base(i)).slice(0, 40 + (i % 200))), // cut short
    (i) => Buffer.from(JSON.stringify({ 'oslo.version': '1.0', 'oslo.message': JSON.stringify(base(i)) })),
    (i) => Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': base(i) })),
    (i) => Buffer.from(encodeOsloV2(base(i, {}, { blob: 'x'.repeat(600_000 + i) }))),
    (i) => Buffer.from(`{"oslo.version": "2.0", "oslo.message": ${JSON.stringify(`{"message_id": "hostile-${i}", "event_type": "compute.instance.update", "payload": ${'['.repeat(5000)}${']'.repeat(5000)}}`)}}`),
    (i) => Buffer.concat([Buffer.from(encodeOsloV2(base(i)).slice(0, 60)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(encodeOsloV2(base(i)).slice(60))]),
    (i) => Buffer.from(encodeOsloV2(base(i, { timestamp: 12345 }))),
    (i) => Buffer.from(encodeOsloV2(base(i, {}, { launched_at: 'not a date', memory_mb: 'lots' }))),
    (i) => Buffer.from(encodeOsloV2(base(i, {}, { instance_id: { nested: true }, tenant_id: [1, 2] }))),
    (i) => Buffer.from(encodeOsloV2(base(i, { message_id: i === 9 ? '' : i % 2 === 0 ? `hostile-${i}${' '.repeat(300)}` : `hostile-${i}-\u00e9\u{1F600}` }))),
    (i) => Buffer.from(encodeOsloV2(base(i, { event_type: 123 }))),
    (i) => Buffer.from(JSON.stringify([base(i)])),
    (i) => Buffer.from(`{"oslo.version": "2.0", "oslo.message": "{\\"message_id\\": \\"hostile-${i}-\\ud800\\", \\"event_type\\": \\"compute.instance.update\\", \\"payload\\": {}}"}`),
  ];
  for (let i = 0; i < 1000; i++) out.push(kinds[i % kinds.length]!(i));
  return out;
}
