/**
 * NotabeneHandler's broker side: a process-wide pool with one connection per distinct broker
 * params (handlers are built per stream run, so each must not connect), publishing with
 * publisher confirms so `commit` only succeeds once the broker has taken every message.
 *
 * Upstream published without confirms and logged and swallowed errors, which lost messages.
 * Here every failure rejects: a nack, a closed channel or connection, and an unroutable message
 * (published `mandatory`, so a missing queue or binding is reported instead of dropped). The
 * pipeline worker then errors the stream and it is retried: at-least-once.
 *
 * A connection or channel that closes ends its session; the next publish opens a new one
 * (logged at warn) and declares again, so a deleted exchange or queue is recreated.
 *
 * A broker short of memory or disk blocks publishers (connection.blocked) and confirms nothing
 * until it recovers. That is logged when it happens, and a publish not confirmed within the
 * confirm timeout rejects naming the block, and ends the session (its unconfirmed messages may
 * still arrive: consumers see the message_id again, as after any retry), so the pipeline worker
 * errors or retries the stream instead of hanging.
 *
 * Declaring (spec §4.7): upstream declared the exchange durable, which against an existing
 * non-durable exchange (oslo's `nova`) is a 406 that closes the channel. So an existing
 * exchange is found with a passive check and used as it is; only a missing one is declared
 * (durable, the configured type). The queue is declared durable and bound with routing key =
 * queue name, as upstream did, so nothing is lost before a consumer exists; if it already
 * exists with other arguments the broker's 406 says so and we use it as it is, with a warning.
 * Checks and declarations run on throwaway channels, since a failed one closes its channel.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type Message } from 'amqplib';
import type { Logger } from 'pino';
import { toError } from '../../shared/errors.js';
import type { NotabeneMessage } from './notabene-message.js';
import { brokerDisplayUrl, type BrokerParams, type Topology } from './notabene-params.js';

const HEARTBEAT_SECONDS = 30;
const CONNECT_TIMEOUT_MS = 10_000;
const NOT_FOUND = 404;
const PRECONDITION_FAILED = 406;

/** A connection, its confirm channel, and what has been declared on it. */
interface Session {
  readonly conn: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Declarations done or in progress, by topologyKey(). */
  readonly declared: Map<string, Promise<void>>;
  /** Message ids the broker returned as unroutable whose confirm has not arrived yet. */
  readonly returned: Map<string, number>;
  /** The first error the broker reported on the connection or channel, once it has. */
  readonly failure: { reason?: Error };
  /** Why the broker blocks publishers, while it does. */
  blocked: string | null;
}

const links = new Map<string, BrokerLink>();

/**
 * Publishes the messages to the exchange with routing key `topology.queue` and resolves when
 * the broker has confirmed every one; rejects if any was not confirmed.
 */
export async function publishConfirmed(broker: BrokerParams, topology: Topology, messages: readonly NotabeneMessage[], log: Logger, confirmTimeoutMs = 30_000): Promise<void> {
  const key = JSON.stringify([broker.host, broker.port, broker.user, broker.password, broker.vhost]);
  let link = links.get(key);
  if (!link) {
    link = new BrokerLink(broker);
    links.set(key, link);
  }
  await link.publish(topology, messages, log, confirmTimeoutMs);
}

/** Closes every pooled connection (pipeline worker shutdown); later publishes connect anew. */
export async function closeNotabeneConnections(): Promise<void> {
  const all = [...links.values()];
  links.clear();
  await Promise.all(all.map((link) => link.close()));
}

class BrokerLink {
  private session: Session | null = null;
  private opening: Promise<Session> | null = null;
  /** The previous session, when it ended without us closing it; reported on reconnect. */
  private lost: Session | null = null;
  private closing = false;

  constructor(private readonly broker: BrokerParams) {}

  async publish(topology: Topology, messages: readonly NotabeneMessage[], log: Logger, confirmTimeoutMs: number): Promise<void> {
    const session = await this.current(log);
    try {
      await declare(session, topology, log);
    } catch (err) {
      throw new Error(`notabene: cannot declare exchange '${topology.exchange}' and queue '${topology.queue}': ${toError(err).message}`, { cause: err });
    }
    const failures = (await withTimeout(Promise.all(messages.map((m) => publishOne(session, topology, m).then(() => null, toError))), confirmTimeoutMs)).filter((e) => e !== null);
    const [first] = failures;
    if (!first) return;
    if (first instanceof ConfirmTimeout) {
      first.message += session.blocked ? ` (the broker blocks publishers: ${session.blocked})` : '';
      this.ended(session);
    }
    // Check the exchange, queue and binding again next time: one of them may be gone.
    session.declared.delete(topologyKey(topology));
    const { reason: closed } = session.failure;
    const reason = closed ? `${first.message} (${closed.message})` : first.message;
    throw new Error(
      `notabene: ${failures.length} of ${messages.length} messages to exchange '${topology.exchange}' with routing key '${topology.queue}' were not confirmed by the broker: ${reason}`,
      { cause: first },
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    const session = await (this.opening ?? Promise.resolve(this.session)).catch(() => null);
    this.session = null;
    if (session) await session.conn.close().catch(() => undefined);
  }

  private current(log: Logger): Promise<Session> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= this.open(log).finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async open(log: Logger): Promise<Session> {
    if (this.lost) log.warn({ err: this.lost.failure.reason }, 'notabene broker connection or channel was closed; reconnecting');
    this.lost = null;
    const { host, port, user, password, vhost } = this.broker;
    let conn: ChannelModel;
    try {
      conn = await connect(
        { protocol: 'amqp', hostname: host, port, username: user, password, vhost, heartbeat: HEARTBEAT_SECONDS },
        { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: `stv3 pipeline-worker notabene pid ${process.pid}` } },
      );
    } catch (err) {
      throw new Error(`notabene: cannot connect to ${brokerDisplayUrl(this.broker)}: ${toError(err).message}`, { cause: err });
    }
    // Listening from the start: an 'error' event without a listener would throw.
    const failure: Session['failure'] = {};
    const remember = (err: Error): void => {
      failure.reason ??= err;
    };
    conn.on('error', remember);
    let channel: ConfirmChannel;
    try {
      channel = await conn.createConfirmChannel();
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
    const session: Session = { conn, channel, declared: new Map(), returned: new Map(), failure, blocked: null };
    conn.on('blocked', (reason: string) => {
      session.blocked = reason;
      log.warn({ broker: brokerDisplayUrl(this.broker), reason }, 'notabene: the broker blocks publishers (memory or disk alarm); publishes wait for it');
    });
    conn.on('unblocked', () => {
      session.blocked = null;
      log.info({ broker: brokerDisplayUrl(this.broker) }, 'notabene: the broker accepts publishes again');
    });
    channel.on('error', remember);
    channel.on('return', (message: Message) => countReturn(session, message));
    // amqplib closes the channels before the connection reports why it closed.
    conn.on('close', (err?: Error) => {
      if (err) remember(err);
      this.ended(session);
    });
    channel.on('close', () => this.ended(session));
    this.session = session;
    return session;
  }

  /** Drops a session whose connection or channel closed; the next publish opens a new one. */
  private ended(session: Session): void {
    if (this.session !== session) return;
    this.session = null;
    if (!this.closing) this.lost = session;
    // Only the channel may have closed: do not leave its connection behind.
    session.conn.close().catch(() => undefined);
  }
}

class ConfirmTimeout extends Error {}

/** The errors of a publish: each message's, or one ConfirmTimeout when the broker stays silent. */
async function withTimeout(publishes: Promise<(Error | null)[]>, ms: number): Promise<(Error | null)[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<(Error | null)[]>((resolve) => {
    timer = setTimeout(() => resolve([new ConfirmTimeout(`no confirm from the broker within ${ms / 1000} s`)]), ms);
  });
  try {
    return await Promise.race([publishes, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function topologyKey(t: Topology): string {
  return JSON.stringify([t.exchange, t.exchangeType, t.queue]);
}

/** Declares once per session and topology; a failed declaration is tried again next time. */
function declare(session: Session, topology: Topology, log: Logger): Promise<void> {
  const key = topologyKey(topology);
  let ready = session.declared.get(key);
  if (!ready) {
    const attempt = declareTopology(session.conn, topology, log);
    attempt.catch(() => {
      if (session.declared.get(key) === attempt) session.declared.delete(key);
    });
    session.declared.set(key, attempt);
    ready = attempt;
  }
  return ready;
}

async function declareTopology(conn: ChannelModel, { exchange, exchangeType, queue }: Topology, log: Logger): Promise<void> {
  const exchangeExisted = await exists(conn, (ch) => ch.checkExchange(exchange));
  if (!exchangeExisted) {
    await onThrowawayChannel(conn, (ch) => ch.assertExchange(exchange, exchangeType, { durable: true, autoDelete: false }));
  }
  try {
    await onThrowawayChannel(conn, (ch) => ch.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false }));
  } catch (err) {
    if (replyCode(err) !== PRECONDITION_FAILED) throw err;
    log.warn({ queue, err: toError(err) }, 'queue exists with other arguments; using it as it is');
  }
  await onThrowawayChannel(conn, (ch) => ch.bindQueue(queue, exchange, queue));
  log.info({ queue, exchangeExisted }, exchangeExisted ? 'using the existing exchange as it is; queue bound' : 'exchange declared; queue bound');
}

async function exists(conn: ChannelModel, check: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  try {
    await onThrowawayChannel(conn, check);
    return true;
  } catch (err) {
    if (replyCode(err) === NOT_FOUND) return false;
    throw err;
  }
}

async function onThrowawayChannel<T>(conn: ChannelModel, operation: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await conn.createChannel();
  // A failed operation closes the channel: the rejected operation reports it. Without a
  // listener amqplib's 'error' event would throw and take the whole connection down.
  ch.on('error', () => undefined);
  try {
    return await operation(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/**
 * One message, resolved on the broker's ack. The return value of publish (false = write buffer
 * full) is not waited on: a commit carries a handful of messages and amqplib queues them anyway.
 */
function publishOne(session: Session, { exchange, queue }: Topology, message: NotabeneMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      session.channel.publish(exchange, queue, message.content, { ...message.properties, mandatory: true }, (err: unknown) => {
        if (err) reject(toError(err));
        else if (takeReturn(session, message.messageId)) reject(new Error(`message ${message.messageId} was unroutable (no queue bound with this routing key)`));
        else resolve();
      });
    } catch (err) {
      reject(toError(err)); // the channel was already closed
    }
  });
}

/** The broker sends basic.return before the ack of the same message. */
function countReturn(session: Session, message: Message): void {
  const id = String(message.properties.messageId);
  session.returned.set(id, (session.returned.get(id) ?? 0) + 1);
}

function takeReturn(session: Session, messageId: string): boolean {
  const count = session.returned.get(messageId);
  if (count === undefined) return false;
  if (count > 1) session.returned.set(messageId, count - 1);
  else session.returned.delete(messageId);
  return true;
}

function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
