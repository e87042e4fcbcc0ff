/**
 * Publishes notifications to the cells' brokers the way Nova's oslo.messaging notifier does
 * (spec §2.5), with publisher confirms: a notification counts as sent once its broker has
 * confirmed it.
 *
 * What oslo.messaging's rabbit driver does for a notification (impl_rabbit `notify_send` and
 * `_publish_and_creates_default_queue`, kombu underneath), and so what we do:
 *  - exchange = the control exchange (`nova`), type topic, durable = amqp_durable_queues and
 *    auto_delete = amqp_auto_delete, both False by default;
 *  - routing key = `<topic>.<priority in lower case>`: `notifications.info`, and
 *    `notifications.error` for ERROR notifications (create.error, wrap_exception's
 *    terminate_instance…);
 *  - before the first publish to a routing key, the "default queue" named after it is declared
 *    with the exchange's durability and bound with that key, so nothing is lost before a
 *    consumer exists. If the exchange or queue already exists with other arguments, we use it
 *    as it is (a passive check) and warn, as the yagi-worker does;
 *  - the body is the 2.0 envelope `{"oslo.version": "2.0", "oslo.message": "<JSON>"}`,
 *    serialised by kombu's json serialiser: content_type `application/json`,
 *    content_encoding `utf-8`;
 *  - delivery_mode 2 (persistent): oslo passes none, so kombu uses its Exchange default,
 *    PERSISTENT_DELIVERY_MODE. On oslo's non-durable queue it makes no difference; on a
 *    durable one the messages survive a broker restart;
 *  - not mandatory (oslo publishes notifications with mandatory=False).
 * One difference in the bytes: Python's json.dumps puts a space after `,` and `:` and prints
 * float fields as floats (rxtx_factor 80.0); our bodies are compact JSON.stringify output (80).
 * Every consumer here parses JSON, to which the two are the same values.
 *
 * Each cell has its own connection and confirm channel. At most `maxInFlight` messages per
 * cell wait for their confirm; a `false` from publish (the socket buffer is full) waits for
 * `drain`. A nack, or a channel or connection that closes, stops the run with a PublishError
 * that carries the counts so far.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { pino, type Logger } from 'pino';
import { toError } from '../shared/errors.js';
import { EventTimeClock } from '../shared/time-sync.js';
import type { DateTime } from '../shared/time.js';
import { RateLimiter } from './pacing.js';

/** A cell's broker. */
export interface CellTarget {
  readonly name: string;
  /** amqp://user:password@host:port/vhost */
  readonly url: string;
  /** Exchange for this cell (default: the options' exchange). */
  readonly exchange?: string;
}

/** One message to publish. */
export interface OutgoingNotification {
  /** The cell's name; may be left out when there is a single cell. */
  readonly cell?: string;
  /** The AMQP body (an oslo 2.0 envelope, or whatever a replayed file held). */
  readonly body: string;
  /** The notification's priority in lower case: `info`, `error`…; the routing key's suffix. */
  readonly priority: string;
  /** The notification's timestamp; null when it has none that parses. */
  readonly time: DateTime | null;
}

export interface PublishProgress {
  /** Handed to the broker (or written to the file). */
  readonly published: number;
  /** Confirmed by the broker (or written): what counts as sent. */
  readonly confirmed: number;
  readonly elapsedMs: number;
  /** Timestamp of the latest notification confirmed. */
  readonly lastTime: DateTime | null;
}

export interface PublishSummary extends PublishProgress {
  /** Confirmed per cell name. */
  readonly byCell: Readonly<Record<string, number>>;
  /** Confirmed per routing key. */
  readonly byRoutingKey: Readonly<Record<string, number>>;
  /** The signal stopped the run before the source ended. */
  readonly aborted: boolean;
}

export interface PublishOptions {
  /** Default `nova`. */
  readonly exchange?: string;
  /** Default `notifications`: routing key `<topic>.<priority>`. */
  readonly topic?: string;
  /** Every message with this routing key instead (and only its queue declared). */
  readonly routingKey?: string;
  /** Cap, messages per second (all cells together). */
  readonly rate?: number;
  /** Unconfirmed messages per cell before waiting. Default 1000. */
  readonly maxInFlight?: number;
  /**
   * Time-sync endpoint (spec §4.8): the latest confirmed timestamp is posted to `<url>/time` as
   * the yagi-workers post theirs (EventTimeClock: when it moved 20 s, and at the end; one POST
   * at a time).
   */
  readonly timeSync?: string;
  /** Stops taking messages; those published are still waited for, then the summary. */
  readonly signal?: AbortSignal;
  /** Called at most every progressIntervalMs (default 250) and once at the end. */
  readonly onProgress?: (progress: PublishProgress) => void;
  readonly progressIntervalMs?: number;
  /** Warnings (an existing exchange or queue with other arguments, time-sync trouble). */
  readonly log?: Logger;
}

/** The run stopped on a broker error; `summary` has what was confirmed before it. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly summary: PublishSummary,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PublishError';
  }
}

const PRECONDITION_FAILED = 406;

/**
 * Publishes every message of `source`, in order, to its cell's broker, and resolves when the
 * source is done (or the signal aborted) and every published message is confirmed, with the
 * counts. Rejects with PublishError on a nack or a lost channel/connection, with an Error when a
 * cell cannot be reached at the start or a message names an unknown cell.
 */
export async function publishNotifications(
  cells: readonly CellTarget[],
  source: Iterable<OutgoingNotification> | AsyncIterable<OutgoingNotification>,
  options: PublishOptions = {},
): Promise<PublishSummary> {
  if (cells.length === 0) throw new Error('no cell to publish to');
  const log = options.log ?? pino({ level: 'silent' });
  const topic = options.topic ?? 'notifications';
  const maxInFlight = options.maxInFlight ?? 1000;
  const limiter = options.rate === undefined ? null : new RateLimiter(options.rate);
  const started = performance.now();
  const sessions = new Map<string, CellSession>();
  const counts = new Counts();
  const clock = options.timeSync ? new EventTimeClock(options.timeSync, log) : null;
  const progress = (): PublishProgress => ({ published: counts.published, confirmed: counts.confirmed, elapsedMs: performance.now() - started, lastTime: counts.lastTime });
  const summary = (): PublishSummary => ({ ...progress(), byCell: { ...counts.byCell }, byRoutingKey: { ...counts.byRoutingKey }, aborted: options.signal?.aborted ?? false });
  let lastReport = 0;
  const report = (force = false): void => {
    if (!options.onProgress) return;
    const now = performance.now();
    if (!force && now - lastReport < (options.progressIntervalMs ?? 250)) return;
    lastReport = now;
    options.onProgress(progress());
  };
  try {
    for (const cell of cells) {
      if (sessions.has(cell.name)) throw new Error(`cell ${cell.name} is named twice`);
      sessions.set(cell.name, await CellSession.open(cell, options.exchange ?? 'nova', log));
    }
    const only = cells.length === 1 ? sessions.get(cells[0]!.name)! : null;
    for await (const message of source) {
      if (options.signal?.aborted) break;
      const session = message.cell === undefined ? only : sessions.get(message.cell);
      if (!session) throw new Error(message.cell === undefined ? 'a message names no cell and there are several' : `a message is for cell ${message.cell}, which has no broker`);
      if (limiter) {
        await limiter.wait(options.signal);
        if (options.signal?.aborted) break;
      }
      const routingKey = options.routingKey ?? `${topic}.${message.priority}`;
      await session.publish(routingKey, message, maxInFlight, (ok) => {
        if (!ok) return;
        counts.confirm(session.name, routingKey, message.time);
        if (clock && counts.lastTime) clock.committed([counts.lastTime]);
        report();
      });
      counts.published++;
      report();
    }
    await Promise.all([...sessions.values()].map((s) => s.settle()));
  } catch (err) {
    await Promise.all([...sessions.values()].map((s) => s.settle().catch(() => undefined)));
    if (err instanceof BrokerFailure) throw new PublishError(err.message, summary(), { cause: err.cause });
    throw err;
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close()));
    await clock?.close();
    report(true);
  }
  return summary();
}

/** Shows a broker URL without its password. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}

class Counts {
  published = 0;
  confirmed = 0;
  lastTime: DateTime | null = null;
  readonly byCell: Record<string, number> = {};
  readonly byRoutingKey: Record<string, number> = {};

  confirm(cell: string, routingKey: string, time: DateTime | null): void {
    this.confirmed++;
    this.byCell[cell] = (this.byCell[cell] ?? 0) + 1;
    this.byRoutingKey[routingKey] = (this.byRoutingKey[routingKey] ?? 0) + 1;
    if (time !== null && (this.lastTime === null || time.isAfter(this.lastTime))) this.lastTime = time;
  }
}

/** A broker-side failure: the message says which cell and what. */
class BrokerFailure extends Error {}

/** One cell: its connection, confirm channel, declared queues and unconfirmed messages. */
class CellSession {
  private inFlight = 0;
  /** publish() returned false: the socket buffer is full until `drain`. */
  private blocked = false;
  private failure: BrokerFailure | null = null;
  private readonly declared = new Map<string, Promise<void>>();
  /** Woken on every confirm, nack, drain and close. */
  private wake: (() => void)[] = [];

  private constructor(
    readonly name: string,
    private readonly url: string,
    private readonly conn: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly exchange: string,
    private readonly log: Logger,
  ) {
    const fail = (what: string) => (err?: Error) => {
      this.failure ??= new BrokerFailure(`cell ${name} (${displayUrl(url)}): ${what}${err ? `: ${err.message}` : ''}`, { cause: err });
      this.notify();
    };
    conn.on('error', fail('connection error'));
    conn.on('close', fail('connection closed'));
    channel.on('error', fail('channel error'));
    channel.on('close', fail('channel closed'));
    channel.on('drain', () => {
      this.blocked = false;
      this.notify();
    });
  }

  static async open(cell: CellTarget, defaultExchange: string, log: Logger): Promise<CellSession> {
    let conn: ChannelModel;
    try {
      conn = await connect(cell.url, { clientProperties: { connection_name: `stv3 notigen pid ${process.pid} cell ${cell.name}` } });
    } catch (err) {
      throw new Error(`cell ${cell.name}: cannot connect to ${displayUrl(cell.url)}: ${toError(err).message}`, { cause: err });
    }
    try {
      const exchange = cell.exchange ?? defaultExchange;
      await declareOrUse(
        conn,
        (ch) => ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false }),
        (ch) => ch.checkExchange(exchange),
        (mismatch) => log.warn({ cell: cell.name, exchange, mismatch }, `cell ${cell.name}: exchange ${exchange} exists with other arguments; using it as it is`),
      );
      const channel = await conn.createConfirmChannel();
      return new CellSession(cell.name, cell.url, conn, channel, exchange, log);
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw new Error(`cell ${cell.name} (${displayUrl(cell.url)}): ${toError(err).message}`, { cause: err });
    }
  }

  /**
   * Publishes once fewer than maxInFlight messages wait for a confirm; resolves when the
   * message is handed over (after `drain` if the socket buffer was full). `confirmed(true)`
   * runs on the broker's ack.
   */
  async publish(routingKey: string, message: OutgoingNotification, maxInFlight: number, confirmed: (ok: boolean) => void): Promise<void> {
    await this.queueFor(routingKey);
    while (this.inFlight >= maxInFlight && !this.failure) await this.next();
    if (this.failure) throw this.failure;
    this.inFlight++;
    const ok = this.channel.publish(
      this.exchange,
      routingKey,
      Buffer.from(message.body, 'utf8'),
      { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 },
      (err: unknown) => {
        this.inFlight--;
        if (err) this.failure ??= new BrokerFailure(`cell ${this.name} (${displayUrl(this.url)}): message not confirmed: ${toError(err).message}`, { cause: err });
        confirmed(!err);
        this.notify();
      },
    );
    if (!ok) {
      this.blocked = true;
      while (this.blocked && !this.failure) await this.next();
    }
  }

  /** Waits until every published message is confirmed; throws the failure if one happened. */
  async settle(): Promise<void> {
    while (this.inFlight > 0 && !this.failure) await this.next();
    if (this.failure) throw this.failure;
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }

  /** The default queue of a routing key, declared once (oslo's _publish_and_creates_default_queue). */
  private queueFor(routingKey: string): Promise<void> {
    let declared = this.declared.get(routingKey);
    if (!declared) {
      declared = (async () => {
        await declareOrUse(
          this.conn,
          (ch) => ch.assertQueue(routingKey, { durable: false, autoDelete: false, exclusive: false }),
          (ch) => ch.checkQueue(routingKey),
          (mismatch) => this.log.warn({ cell: this.name, queue: routingKey, mismatch }, `cell ${this.name}: queue ${routingKey} exists with other arguments; using it as it is`),
        );
        await onChannel(this.conn, (ch) => ch.bindQueue(routingKey, this.exchange, routingKey));
      })();
      this.declared.set(routingKey, declared);
    }
    return declared;
  }

  private next(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  private notify(): void {
    const woken = this.wake;
    this.wake = [];
    for (const resolve of woken) resolve();
  }
}

/** Declares; on 406 (exists with other arguments) warns and checks passively that it exists. */
async function declareOrUse(conn: ChannelModel, declare: (ch: Channel) => Promise<unknown>, check: (ch: Channel) => Promise<unknown>, warn: (mismatch: string) => void): Promise<void> {
  try {
    await onChannel(conn, declare);
  } catch (err) {
    if ((err as { code?: number }).code !== PRECONDITION_FAILED) throw err;
    warn(toError(err).message);
    await onChannel(conn, check);
  }
}

/** Runs `work` on a throwaway channel: a failed declaration closes its channel. */
async function onChannel<T>(conn: ChannelModel, work: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined); // the rejection of `work` says why
  try {
    return await work(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}
