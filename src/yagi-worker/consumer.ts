/**
 * The AMQP side of a yagi-worker: one connection, one channel per queue, push consumers with
 * prefetch (no polling). When the connection drops we reconnect with capped backoff, declare
 * again and consume again; deliveries of a dead channel can no longer be acked, so each carries
 * the generation of the channel it came from and acks for older generations are skipped (the
 * broker redelivers those messages and the unique message_id absorbs the copies).
 *
 * Topology is declared as the config says and as oslo.messaging does. If the queue or exchange
 * already exists with other arguments (RabbitMQ answers 406 PRECONDITION_FAILED and closes the
 * channel), we use it as it is after a passive check and warn with the broker's description of
 * the mismatch, instead of crash-looping.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../shared/backoff.js';
import type { BrokerConfig, ConsumerConfig } from '../shared/config/yagi-conf.js';
import { toError } from '../shared/errors.js';

export interface Delivery {
  readonly queue: string;
  readonly message: ConsumeMessage;
  readonly generation: number;
}

export interface ConsumerOptions {
  readonly broker: BrokerConfig;
  readonly consumers: readonly ConsumerConfig[];
  readonly log: Logger;
  /** Shown in the broker's connection list (rabbitmqctl list_connections client_properties). */
  readonly connectionName: string;
  readonly onDelivery: (delivery: Delivery) => void;
}

interface Subscription {
  readonly channel: Channel;
  readonly consumerTag: string;
}

export class AmqpConsumer {
  private connection: ChannelModel | null = null;
  private readonly subscriptions = new Map<string, Subscription>();
  private generation = 0;
  private stopping = false;
  private readonly abort = new AbortController();
  private reconnecting: Promise<void> | null = null;

  constructor(private readonly options: ConsumerOptions) {}

  /** Connects and starts consuming; retries until it works or close() is called. */
  async start(): Promise<void> {
    await this.connectLoop();
  }

  /**
   * Acks every message up to and including this one on its channel (`count` of them, for the
   * log); false if that channel is gone (the broker redelivers them; the copies are duplicates).
   */
  ack(delivery: Delivery, count = 1): boolean {
    const sub = delivery.generation === this.generation ? this.subscriptions.get(delivery.queue) : undefined;
    if (!sub) {
      this.options.log.warn({ queue: delivery.queue, messages: count }, 'ack skipped: the channel these messages came on is closed; the broker redelivers them and the copies are deduplicated');
      return false;
    }
    try {
      sub.channel.ack(delivery.message, true);
      return true;
    } catch (err) {
      this.options.log.warn({ err: toError(err), queue: delivery.queue, messages: count }, 'ack failed; the broker will redeliver and the copies will be deduplicated');
      return false;
    }
  }

  /** Stops deliveries; what was delivered and not acked is redelivered after close(). */
  async stopConsuming(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    await Promise.all(
      [...this.subscriptions.entries()].map(async ([queue, sub]) => {
        try {
          await sub.channel.cancel(sub.consumerTag);
        } catch (err) {
          this.options.log.debug({ err: toError(err), queue }, 'cancel failed (channel already closed)');
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    const conn = this.connection;
    this.connection = null;
    this.subscriptions.clear();
    if (conn) await conn.close().catch(() => undefined);
  }

  private async connectLoop(): Promise<void> {
    const { log, broker } = this.options;
    for (let attempt = 0; !this.stopping; attempt++) {
      if (attempt > 0) {
        const wait = backoffMs(attempt - 1, 500, broker.maxReconnectDelayMs);
        log.warn({ attempt, waitMs: wait, broker: broker.displayUrl }, 'broker unavailable, retrying');
        await sleep(wait, this.abort.signal);
        if (this.stopping) return;
      }
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        const e = toError(err);
        // A refused login is the configuration's fault (user, password, vhost), not a blip: say so loudly.
        if (/ACCESS[-_]REFUSED|NOT_ALLOWED|403|530/.test(e.message)) log.error({ err: e, broker: broker.displayUrl }, 'broker refused the login or vhost: check [rabbit_broker] user, password and vhost (retrying)');
        else log.warn({ err: e, broker: broker.displayUrl }, 'broker connection failed');
        await this.dropConnection();
      }
    }
  }

  private async connectOnce(): Promise<void> {
    const { log, broker, consumers } = this.options;
    const conn = await connect(withHeartbeat(broker.url), { clientProperties: { connection_name: this.options.connectionName } });
    this.connection = conn;
    const generation = ++this.generation;
    conn.on('error', (err: Error) => log.warn({ err }, 'broker connection error'));
    conn.on('close', () => {
      if (this.connection !== conn) return;
      this.connection = null;
      this.subscriptions.clear();
      if (this.stopping) return;
      log.warn({ generation }, 'broker connection lost; reconnecting');
      this.reconnecting ??= this.connectLoop().finally(() => {
        this.reconnecting = null;
      });
    });
    for (const c of consumers) await this.declare(conn, c);
    for (const c of consumers) {
      const channel = await conn.createChannel();
      channel.on('error', (err: Error) => log.warn({ err, queue: c.queue }, 'channel error'));
      // The broker may close a channel while the connection stays up (consumer_timeout during a
      // long database outage, a deleted queue): start over on a new connection, or ingest would
      // stop silently.
      channel.on('close', () => {
        if (this.stopping || this.connection !== conn) return;
        log.warn({ queue: c.queue, generation }, 'consumer channel closed; reconnecting to consume again');
        conn.close().catch(() => undefined);
      });
      await channel.prefetch(c.prefetch);
      const { consumerTag } = await channel.consume(
        c.queue,
        (message) => {
          if (message === null) {
            log.warn({ queue: c.queue }, 'consumer cancelled by the broker (queue deleted?); reconnecting');
            conn.close().catch(() => undefined);
            return;
          }
          if (!this.stopping) this.options.onDelivery({ queue: c.queue, message, generation });
        },
        { noAck: false },
      );
      this.subscriptions.set(c.queue, { channel, consumerTag });
    }
    log.info({ broker: broker.displayUrl, queues: consumers.map((c) => c.queue), generation }, 'consuming');
  }

  /** Exchange, queue and binding as configured; an existing different declaration is used as is. */
  private async declare(conn: ChannelModel, c: ConsumerConfig): Promise<void> {
    const log = this.options.log;
    await this.declareOrCheck(
      conn,
      (ch) => ch.assertExchange(c.exchange, c.exchangeType, { durable: c.exchangeDurable, autoDelete: c.exchangeAutoDelete }),
      (ch) => ch.checkExchange(c.exchange),
      (mismatch) => log.warn({ exchange: c.exchange, mismatch }, 'exchange exists with other arguments; using it as it is'),
    );
    await this.declareOrCheck(
      conn,
      (ch) => ch.assertQueue(c.queue, { durable: c.durable, autoDelete: c.autoDelete, exclusive: false }),
      (ch) => ch.checkQueue(c.queue),
      (mismatch) => log.warn({ queue: c.queue, mismatch }, 'queue exists with other arguments; using it as it is'),
    );
    const ch = await conn.createChannel();
    try {
      if (c.exchangeType === 'headers') await ch.bindQueue(c.queue, c.exchange, '', parseHeadersArgs(c.routingKey));
      else await ch.bindQueue(c.queue, c.exchange, c.routingKey);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private async declareOrCheck(
    conn: ChannelModel,
    declare: (ch: Channel) => Promise<unknown>,
    check: (ch: Channel) => Promise<unknown>,
    warn: (mismatch: string) => void,
  ): Promise<void> {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined); // a 406 closes the channel; we handle it below
    try {
      await declare(ch);
      await ch.close().catch(() => undefined);
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 406) throw err;
      warn(toError(err).message);
    }
    const passive = await conn.createChannel();
    passive.on('error', () => undefined); // a failed check closes the channel; the rejection says why
    try {
      await check(passive);
    } finally {
      await passive.close().catch(() => undefined);
    }
  }

  private async dropConnection(): Promise<void> {
    const conn = this.connection;
    this.connection = null;
    this.subscriptions.clear();
    if (conn) await conn.close().catch(() => undefined);
  }
}

/** Heartbeats detect a dead broker connection in about a minute; a URL's own setting wins. */
function withHeartbeat(url: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', '30');
  return u.href;
}

/** For a headers exchange yagi used the routing_key as the binding arguments: `k=v,k=v` or JSON. */
function parseHeadersArgs(text: string): Record<string, string> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as Record<string, string>;
  return Object.fromEntries(trimmed.split(',').filter(Boolean).map((kv) => kv.split('=').map((s) => s.trim()) as [string, string]));
}
