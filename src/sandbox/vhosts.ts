/**
 * The sandbox's two cells on one broker. A cell is a RabbitMQ vhost of its own, as in a real
 * region (each cell's nova publishes to exchange `nova`, queue `notifications.info`, in its own
 * vhost or broker), created the first way that works:
 *
 * 1. `management`: the management HTTP API (the container's, STV3_RABBITMQ_MANAGEMENT_URL, or
 *    http://<broker host>:15672 with the AMQP URL's user) when it answers;
 * 2. `rabbitmqctl`: when the broker is on this machine and `rabbitmqctl` may talk to it (root,
 *    or the rabbitmq user); AMQP itself cannot create vhosts;
 * 3. `shared`: otherwise the URL's own vhost, with an exchange and a queue per cell
 *    (`<prefix>.<cell>` and `<prefix>.<cell>.notifications.info`): yagi.conf names both per
 *    cell, so the workers cannot tell the difference. Notabene then publishes to exchange
 *    `<prefix>.monitor`, queue `<prefix>.monitor.info` (sharedMonitor).
 *
 * The user of the AMQP URL gets full permissions on the vhosts created; `removeCells` deletes
 * them (or, shared, the queues and exchanges).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect } from 'amqplib';

const run = promisify(execFile);

export type CellMode = 'management' | 'rabbitmqctl' | 'shared';

/** Where a cell's nova publishes and its yagi-worker consumes. */
export interface CellBroker {
  readonly name: string;
  /** amqp URL including the vhost. */
  readonly url: string;
  readonly vhost: string;
  readonly exchange: string;
  readonly queue: string;
}

export interface CellLayout {
  readonly mode: CellMode;
  /** Start of the vhost names, or (shared) of the exchange and queue names. */
  readonly prefix: string;
  readonly cells: readonly CellBroker[];
  /** Management API base (mode management). */
  readonly managementUrl?: string;
}

/**
 * Creates the cells' vhosts (or names their queues on a shared one); idempotent. `mode` `auto`
 * takes the first way that works (this module's header); another mode insists on that one.
 */
export async function createCells(amqpUrl: string, prefix: string, names: readonly string[], options: { managementUrl?: string | undefined; mode?: CellMode | 'auto' } = {}): Promise<CellLayout> {
  const user = decodeURIComponent(new URL(amqpUrl).username) || 'guest';
  const mode = options.mode ?? 'auto';
  const api = mode === 'auto' || mode === 'management' ? await findManagementApi(amqpUrl, options.managementUrl) : null;
  if (mode === 'management' && !api) throw new Error(`no RabbitMQ management API answers for ${new URL(amqpUrl).host} (set STV3_RABBITMQ_MANAGEMENT_URL)`);
  if (api) {
    for (const name of names) {
      const vhost = `${prefix}-${name}`;
      await management(api, 'PUT', `/api/vhosts/${encodeURIComponent(vhost)}`, {});
      await management(api, 'PUT', `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
    }
    return { mode: 'management', prefix, managementUrl: api, cells: names.map((n) => vhostCell(amqpUrl, `${prefix}-${n}`, n)) };
  }
  const ctl = mode === 'auto' || mode === 'rabbitmqctl' ? await rabbitmqctlWorks(amqpUrl) : false;
  if (mode === 'rabbitmqctl' && !ctl) throw new Error(`rabbitmqctl cannot manage the broker at ${new URL(amqpUrl).host} (not on this machine, or not allowed: run as root or the rabbitmq user)`);
  if (ctl) {
    for (const name of names) {
      const vhost = `${prefix}-${name}`;
      const existing = (await run('rabbitmqctl', ['-q', 'list_vhosts'], { timeout: 30_000 })).stdout.split('\n').map((l) => l.trim());
      if (!existing.includes(vhost)) await run('rabbitmqctl', ['-q', 'add_vhost', vhost], { timeout: 30_000 });
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, user, '.*', '.*', '.*'], { timeout: 30_000 });
    }
    return { mode: 'rabbitmqctl', prefix, cells: names.map((n) => vhostCell(amqpUrl, `${prefix}-${n}`, n)) };
  }
  const vhost = decodeURIComponent(new URL(amqpUrl).pathname.slice(1)) || '/';
  return {
    mode: 'shared',
    prefix,
    cells: names.map((name) => ({ name, url: amqpUrl, vhost, exchange: `${prefix}.${name}`, queue: `${prefix}.${name}.notifications.info` })),
  };
}

/** Deletes what createCells made: the vhosts with everything in them, or the shared queues and exchanges. */
export async function removeCells(layout: CellLayout): Promise<void> {
  if (layout.mode === 'management' && layout.managementUrl) {
    for (const c of layout.cells) await management(layout.managementUrl, 'DELETE', `/api/vhosts/${encodeURIComponent(c.vhost)}`).catch(() => undefined);
    return;
  }
  if (layout.mode === 'rabbitmqctl') {
    for (const c of layout.cells) await run('rabbitmqctl', ['-q', 'delete_vhost', c.vhost], { timeout: 30_000 }).catch(() => undefined);
    return;
  }
  const conn = await connect(layout.cells[0]!.url);
  const monitor = sharedMonitor(layout.prefix);
  try {
    for (const c of [...layout.cells, monitor]) {
      // A failed delete closes the channel: one channel per operation.
      for (const op of [(ch: import('amqplib').Channel) => ch.deleteQueue(c.queue), (ch: import('amqplib').Channel) => ch.deleteExchange(c.exchange)]) {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        await op(ch).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Where notabene publishes when the cells share a vhost. */
export function sharedMonitor(prefix: string): { exchange: string; queue: string } {
  return { exchange: `${prefix}.monitor`, queue: `${prefix}.monitor.info` };
}

function vhostCell(amqpUrl: string, vhost: string, name: string): CellBroker {
  const u = new URL(amqpUrl);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return { name, url: u.href, vhost, exchange: 'nova', queue: 'notifications.info' };
}

async function findManagementApi(amqpUrl: string, given?: string): Promise<string | null> {
  const amqp = new URL(amqpUrl);
  const candidates = [given, process.env['STV3_RABBITMQ_MANAGEMENT_URL']].filter((c): c is string => !!c);
  if (candidates.length === 0) {
    const u = new URL(`http://${amqp.host}`);
    u.port = '15672';
    u.username = amqp.username || 'guest';
    u.password = amqp.password || 'guest';
    candidates.push(u.href);
  }
  for (const base of candidates) {
    try {
      await management(base, 'GET', '/api/overview');
      return base.replace(/\/$/, '');
    } catch {
      // not this one
    }
  }
  return null;
}

async function management(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const u = new URL(base);
  const auth = Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  u.username = '';
  u.password = '';
  const res = await fetch(u.href.replace(/\/$/, '') + path, {
    method,
    headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(3000),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text ? (JSON.parse(text) as unknown) : null;
}

async function rabbitmqctlWorks(amqpUrl: string): Promise<boolean> {
  const host = new URL(amqpUrl).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) return false;
  try {
    await run('rabbitmqctl', ['-q', 'list_vhosts'], { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}
