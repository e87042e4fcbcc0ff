/**
 * deploy/ansible for real, against this machine (`ansible_connection=local`): site.yml with an
 * inventory of one region whose two cells are two RabbitMQ vhosts of this test's own, its own
 * database and database users, its own system user (so its own pm2 and PM2_HOME) and every
 * directory under a temporary one; deployed first as an operator would, with `npm run package
 * -- --deploy --inventory FILE --run` (the tarball, then db.yml, workers.yml, api.yml), then with
 * site.yml. Then
 * notifications published to both cells end as completed streams; a second run changes
 * nothing (changed=0); a change to one cell's yagi.conf reloads that cell's worker only; a new
 * release flips `current` and reloads every app, and deploying the previous one rolls back.
 * Everything is removed afterwards, also when the test fails. Skipped only when
 * ansible-playbook is not installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { createConnection } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeOsloV2 } from '../../src/shared/amqp/oslo.js';
import { parseDatabaseUrl } from '../../src/shared/config/database-url.js';
import { createDbPool, type Pool } from '../../src/shared/db/pool.js';
import { StreamState } from '../../src/shared/store/stream-states.js';
import { DateTime } from '../../src/shared/time.js';
import { amqpUrl } from '../helpers/amqp.js';
import { SANDBOX, writeFireOnCreate } from '../helpers/configs.js';
import { count, serverUrl } from '../helpers/db.js';
import { makeNotifications } from '../helpers/notifications.js';
import { eventually, ROOT } from '../helpers/processes.js';

const run = promisify(execFile);

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const haveAnsible = has('ansible-playbook');
if (!haveAnsible) console.log('ansible.test.ts: skipped: ansible-playbook is not installed (apt-get install ansible python3-pymysql)');

const id = randomBytes(3).toString('hex');
const user = `stv3t${id}`;
const dbName = `stv3_t_ansible_${id}`;
const vhosts = { a: `stv3t-${id}-a`, b: `stv3t-${id}-b` };
const work = mkdtempSync(join(tmpdir(), 'stv3-ansible-'));
chmodSync(work, 0o755);
const pm2Home = join(work, 'home/.pm2');
const apiPort = 20_000 + Math.floor(Math.random() * 20_000);
const metricsBase = 40_000 + Math.floor(Math.random() * 20_000);
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const step of cleanups.reverse()) await step().catch((err: unknown) => console.log(`ansible.test.ts cleanup: ${String(err)}`));
  rmSync(work, { recursive: true, force: true });
}, 120_000);

async function admin(sql: string): Promise<void> {
  const conn = await createConnection({ ...parseDatabaseUrl(serverUrl().href).options, database: undefined });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

/** The inventory: one host (this machine) in every group, everything of the test's own. */
function writeInventory(tarball: string, cellAQueues: string): string {
  const broker = new URL(amqpUrl());
  const server = serverUrl();
  const cell = (name: 'a' | 'b', extra = ''): string =>
    `      - {name: ${name}, rabbit_host: ${broker.hostname}, rabbit_port: ${broker.port || 5672}, rabbit_user: ${decodeURIComponent(broker.username) || 'guest'}, rabbit_password: ${decodeURIComponent(broker.password) || 'guest'}, rabbit_vhost: ${vhosts[name]}${extra}}`;
  const file = join(work, 'inventory.yml');
  writeFileSync(
    file,
    `all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
      # root becomes the test's system user (no sudo here); its shell is nologin.
      ansible_become_method: su
      ansible_become_flags: "-s /bin/sh"
      ansible_pipelining: true
  children:
    stv3_db: {hosts: {localhost: {}}}
    stv3_workers: {hosts: {localhost: {}}}
    stv3_api: {hosts: {localhost: {}}}
  vars:
    stv3_tarball: ${tarball}
    stv3_user: ${user}
    stv3_group: ${user}
    stv3_home: ${work}/home
    stv3_install_dir: ${work}/opt
    stv3_etc_dir: ${work}/etc
    stv3_log_dir: ${work}/log
    stv3_logrotate_dir: ${work}/logrotate.d
    stv3_definitions_dir: ${work}/definitions
    stv3_node: ${process.execPath}
    stv3_db_login_host: ${server.hostname}
    stv3_db_login_port: ${server.port || 3306}
    stv3_db_login_user: ${decodeURIComponent(server.username) || 'root'}
    stv3_db_login_password: "${decodeURIComponent(server.password)}"
    stv3_db_host: ${server.hostname}
    stv3_db_port: ${server.port || 3306}
    stv3_db_name: ${dbName}
    stv3_db_user: ${user}
    stv3_db_password: pw-${id}
    stv3_db_migrate_user: ${user}_m
    stv3_db_migrate_password: pwm-${id}
    stv3_db_user_host: "${server.hostname}"
    # This machine's MariaDB is shared: its settings stay as they are (the file goes to a
    # directory of the test's own), and it is never restarted (no bind address).
    stv3_db_server_config_dir: ${work}/mysql-conf.d
    stv3_db_apply_live_settings: false
    stv3_api_port: ${apiPort}
    stv3_api_host: 127.0.0.1
    stv3_api_instances: 1
    stv3_metrics_port_base: ${metricsBase}
    stv3_statistics_period: 1
    stv3_cells:
${cell('a', cellAQueues)}
${cell('b')}
`,
  );
  return file;
}

interface Recap {
  ok: number;
  changed: number;
  failed: number;
  output: string;
  seconds: number;
}

/** The PLAY RECAP lines of this host, added up (several playbooks may have run). */
function recapOf(stdout: string, started: number): Recap {
  const lines = [...stdout.matchAll(/localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/g)];
  if (lines.length === 0) throw new Error(`no PLAY RECAP in:\n${stdout.slice(-4000)}`);
  const total = (i: number): number => lines.reduce((a, m) => a + Number(m[i]), 0);
  return { ok: total(1), changed: total(2), failed: total(3), output: stdout, seconds: (Date.now() - started) / 1000 };
}

const ANSIBLE_ENV = { ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_LOCAL_TEMP: join(work, '.ansible-tmp'), ANSIBLE_HOME: join(work, '.ansible') };

/** `npm run package -- --deploy --inventory FILE --run`: packages, then runs the three playbooks it prints. */
async function packageAndDeploy(inventory: string): Promise<Recap & { tarball: string; commands: string[] }> {
  const started = Date.now();
  const { stdout } = await run(join(ROOT, 'node_modules/.bin/tsx'), ['scripts/package.ts', '--out', join(work, 'dist'), '--deploy', '--inventory', inventory, '--run'], {
    cwd: ROOT,
    timeout: 400_000,
    maxBuffer: 32 << 20,
    env: { ...process.env, ...ANSIBLE_ENV },
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`npm run package -- --deploy --run failed: ${err.message}\n${(err.stdout ?? '').slice(-6000)}\n${err.stderr ?? ''}`);
  });
  return { ...recapOf(stdout, started), tarball: /^package: (\S+\.tar\.gz) /m.exec(stdout)![1]!, commands: stdout.split('\n').filter((l) => l.startsWith('ansible-playbook ')) };
}

async function sitePlaybook(inventory: string): Promise<Recap> {
  const started = Date.now();
  const { stdout } = await run('ansible-playbook', ['-i', inventory, join(ROOT, 'deploy/ansible/site.yml')], {
    cwd: work,
    timeout: 300_000,
    maxBuffer: 32 << 20,
    env: { ...process.env, ...ANSIBLE_ENV },
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`ansible-playbook failed: ${err.message}\n${(err.stdout ?? '').slice(-6000)}\n${err.stderr ?? ''}`);
  });
  return recapOf(stdout, started);
}

/** pm2's apps of the test's user: name → restarts (summed over instances) and instances. */
async function apps(): Promise<Map<string, { restarts: number; instances: number; online: number }>> {
  const pm2 = join(work, 'opt/current/node_modules/pm2/bin/pm2');
  const { stdout } = await run('runuser', ['-u', user, '--', 'env', `PM2_HOME=${pm2Home}`, `HOME=${work}/home`, process.execPath, pm2, 'jlist'], { timeout: 60_000, maxBuffer: 16 << 20 });
  const list = JSON.parse(stdout.trim().split('\n').at(-1)!) as { name: string; pm2_env: { status: string; restart_time: number } }[];
  const out = new Map<string, { restarts: number; instances: number; online: number }>();
  for (const p of list) {
    const a = out.get(p.name) ?? { restarts: 0, instances: 0, online: 0 };
    out.set(p.name, { restarts: a.restarts + p.pm2_env.restart_time, instances: a.instances + 1, online: a.online + (p.pm2_env.status === 'online' ? 1 : 0) });
  }
  return out;
}

/** Waits until the cell's yagi-worker declared its queue, then publishes the notifications. */
async function publishToCell(vhost: string, bodies: string[]): Promise<void> {
  const url = new URL(amqpUrl());
  url.pathname = `/${encodeURIComponent(vhost)}`;
  const conn = await connect(url.href);
  try {
    await eventually(
      async () => {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        const ok = await ch.checkQueue('notifications.info').then(
          () => true,
          () => false,
        );
        if (ok) await ch.close();
        return ok;
      },
      (ok) => ok,
      60_000,
    );
    const ch = await conn.createConfirmChannel();
    for (const body of bodies) ch.publish('nova', 'notifications.info', Buffer.from(body), { contentType: 'application/json' });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

describe.skipIf(!haveAnsible)('deploy/ansible site.yml on this machine', () => {
  it('deploys a region of two cells that completes streams, is idempotent, and reloads only what a change affects', async () => {
    const started = Date.now();
    // Cleanups first, so that a failure anywhere below still removes everything.
    cleanups.push(() => admin(`DROP DATABASE IF EXISTS \`${dbName}\``));
    cleanups.push(() => admin(`DROP USER IF EXISTS '${user}'@'${serverUrl().hostname}', '${user}_m'@'${serverUrl().hostname}'`));
    cleanups.push(() => run('userdel', [user]).then(() => run('groupdel', [user]).catch(() => undefined)));
    for (const vhost of Object.values(vhosts)) {
      await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeout: 60_000 });
      cleanups.push(() => run('rabbitmqctl', ['-q', 'delete_vhost', vhost], { timeout: 60_000 }));
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, decodeURIComponent(new URL(amqpUrl()).username) || 'guest', '.*', '.*', '.*'], { timeout: 60_000 });
    }
    cleanups.push(() =>
      run('runuser', ['-u', user, '--', 'env', `PM2_HOME=${pm2Home}`, `HOME=${work}/home`, process.execPath, join(work, 'opt/current/node_modules/pm2/bin/pm2'), 'kill'], { timeout: 60_000 }),
    );

    // Definitions: upstream's event definitions, and a trigger whose streams fire at create.end.
    const definitions = join(work, 'definitions');
    mkdirSync(definitions);
    copyFileSync(join(SANDBOX, 'event_definitions.yaml'), join(definitions, 'event_definitions.yaml'));
    writeFireOnCreate(definitions);
    for (const dir of ['mysql-conf.d', 'logrotate.d']) mkdirSync(join(work, dir));

    // The first deployment as an operator makes it: package, then the commands --deploy prints, run.
    const first = await packageAndDeploy(writeInventory('', ''));
    console.log(`ansible.test.ts: package + first run (db.yml, workers.yml, api.yml) ${first.seconds.toFixed(0)} s, ok=${first.ok} changed=${first.changed}`);
    expect(first.commands.map((c) => c.split(' ')[3])).toEqual(['db.yml', 'workers.yml', 'api.yml'].map((p) => join(ROOT, 'deploy/ansible', p)));
    expect(first.failed).toBe(0);
    const tarball = first.tarball;
    const version = /^stv3-(.+)\.tar\.gz$/.exec(basename(tarball))![1]!;
    const inventory = writeInventory(tarball, '');
    expect(first.changed).toBeGreaterThan(0);
    if (/pm2 boot step skipped/.test(first.output)) console.log('ansible.test.ts: the pm2 boot step (pm2 startup systemd, pm2 save) was skipped: systemd is not PID 1 here');
    else expect(first.output).toMatch(/Start pm2 at boot/);

    // What is deployed: a release directory and `current` pointing at it, pm2 apps online.
    expect(readFileSync(join(work, 'opt/current/VERSION'), 'utf8')).toContain(`version=${version}`);
    const cores = Number(/pipeline_workers: (\d+)/.exec(readFileSync(join(work, 'etc/deployment-workers.yaml'), 'utf8'))![1]);
    const { stdout: nproc } = await run('nproc', ['--all']);
    expect(cores).toBe(Number(nproc.trim()));
    await eventually(apps, (a) => a.get('yagi-a')?.online === 1 && a.get('yagi-b')?.online === 1 && a.get('pipeline-worker')?.online === cores && a.get('api')?.online === 1, 60_000);
    expect(readFileSync(join(work, 'logrotate.d/stv3'), 'utf8')).toContain(`${work}/log/*.log`);

    // The migrations ran as the migration user; the workers' user has no DDL.
    const dbUrl = new URL(serverUrl().href);
    dbUrl.username = user;
    dbUrl.password = `pw-${id}`;
    dbUrl.pathname = `/${dbName}`;
    const pool: Pool = createDbPool(parseDatabaseUrl(dbUrl.href), { connectionLimit: 2 });
    cleanups.push(() => pool.end());
    await expect(pool.query('CREATE TABLE nope (id INT)')).rejects.toThrow(/denied/);
    await expect(pool.query('DELETE FROM event_type')).rejects.toThrow(/denied/); // trimming deletes events, never their types

    // Traffic into both cells ends as completed streams, each cell's events counted.
    const today = DateTime.now().startOfDay();
    const batches = { a: makeNotifications(300, 71, today), b: makeNotifications(300, 72, today) };
    await Promise.all([publishToCell(vhosts.a, batches.a.map(encodeOsloV2)), publishToCell(vhosts.b, batches.b.map(encodeOsloV2))]);
    await eventually(() => count(pool, 'SELECT COUNT(*) AS n FROM event'), (n) => n === 600, 90_000);
    const [cells] = await pool.query('SELECT cell, events_stored FROM ingest_cell ORDER BY cell');
    expect((cells as { cell: string; events_stored: number }[]).map((c) => [c.cell, Number(c.events_stored)])).toEqual([
      ['a', 300],
      ['b', 300],
    ]);
    const creates = new Set([...batches.a, ...batches.b].filter((n) => n['event_type'] === 'compute.instance.create.end').map((n) => (n['payload'] as Record<string, unknown>)['instance_id'])).size;
    expect(creates).toBeGreaterThan(0);
    await eventually(() => count(pool, `SELECT COUNT(*) AS n FROM stream WHERE state = ${StreamState.completed}`), (n) => n >= creates, 60_000);
    // The API instance behind the (operator's) load balancer sees them.
    const [{ count: completed }] = (await (await fetch(`http://127.0.0.1:${apiPort}/v1/streams/count?state=completed`)).json()) as [{ count: number }];
    expect(completed).toBeGreaterThanOrEqual(creates);

    // Idempotent.
    const before = await apps();
    const second = await sitePlaybook(inventory);
    console.log(`ansible.test.ts: second run ${second.seconds.toFixed(0)} s, ok=${second.ok} changed=${second.changed}`);
    expect(second.failed).toBe(0);
    expect(second.changed, second.output.slice(-3000)).toBe(0);
    const same = await apps();
    for (const [name, a] of before) expect(same.get(name)?.restarts, name).toBe(a.restarts);

    // A change to cell a's yagi.conf reloads yagi-a, and nothing else.
    const cellA = ', queues: [{name: notifications.info, exchange: nova, routing_key: notifications.info, max_messages: 50}]';
    const third = await sitePlaybook(writeInventory(tarball, cellA));
    console.log(`ansible.test.ts: third run (cell a's batch size) ${third.seconds.toFixed(0)} s, ok=${third.ok} changed=${third.changed}`);
    expect(third.failed).toBe(0);
    expect(readFileSync(join(work, 'etc/yagi-a.conf'), 'utf8')).toMatch(/max_messages = 50/);
    expect(third.output).toMatch(/RUNNING HANDLER \[stv3-workers : Reload the yagi-workers whose yagi.conf changed\][^\n]*\n(?:[^\n]*\n)*?changed: \[localhost\] => \(item=yagi-a\)/);
    const after = await apps();
    expect(after.get('yagi-a')!.restarts).toBe(same.get('yagi-a')!.restarts + 1);
    for (const name of ['yagi-b', 'pipeline-worker', 'api']) expect(after.get(name)?.restarts, name).toBe(same.get(name)!.restarts);

    // A new release is a new directory and a flip of `current` (every app reloads); rollback is
    // deploying the previous tarball again: `current` flips back, nothing is unpacked.
    const nextTarball = join(work, 'dist', `stv3-${version}-next.tar.gz`);
    copyFileSync(tarball, nextTarball);
    const next = await sitePlaybook(writeInventory(nextTarball, cellA));
    console.log(`ansible.test.ts: fourth run (release ${version}-next) ${next.seconds.toFixed(0)} s, changed=${next.changed}`);
    expect(next.failed).toBe(0);
    expect(readlinkSync(join(work, 'opt/current'))).toBe(join(work, 'opt/releases', `${version}-next`));
    const flipped = await apps();
    for (const [name, a] of after) expect(flipped.get(name)?.restarts, name).toBeGreaterThan(a.restarts);
    const back = await sitePlaybook(writeInventory(tarball, cellA));
    console.log(`ansible.test.ts: fifth run (rollback to ${version}) ${back.seconds.toFixed(0)} s, changed=${back.changed}`);
    expect(back.failed).toBe(0);
    expect(back.output).toMatch(/TASK \[stv3-common : Unpack the release\][^\n]*\n(?:ok|skipping): \[localhost\]/);
    expect(back.output).not.toMatch(/TASK \[stv3-common : Unpack the release\][^\n]*\nchanged/);
    expect(readlinkSync(join(work, 'opt/current'))).toBe(join(work, 'opt/releases', version));
    expect(readdirSync(join(work, 'opt/releases')).sort()).toEqual([version, `${version}-next`].sort());
    await eventually(apps, (a) => a.get('yagi-a')?.online === 1 && a.get('yagi-b')?.online === 1 && a.get('pipeline-worker')?.online === cores && a.get('api')?.online === 1, 60_000);
    console.log(`ansible.test.ts: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  }, 600_000);
});
