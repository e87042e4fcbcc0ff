/**
 * RabbitMQ helpers for tests: random names (so files run in parallel) and a publisher with
 * publisher confirms, on the broker AMQP_URL names.
 */
import { randomBytes } from 'node:crypto';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';

export function amqpUrl(): string {
  return process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
}

export function randomName(prefix: string): string {
  return `${prefix}.${randomBytes(5).toString('hex')}`;
}

export class Publisher {
  private constructor(private readonly conn: ChannelModel, private readonly channel: ConfirmChannel) {}

  static async open(): Promise<Publisher> {
    const conn = await connect(amqpUrl());
    const channel = await conn.createConfirmChannel();
    return new Publisher(conn, channel);
  }

  get ch(): ConfirmChannel {
    return this.channel;
  }

  /** Publishes every body and waits for the broker's confirms. */
  async publishAll(exchange: string, routingKey: string, bodies: Iterable<string | Buffer>): Promise<void> {
    for (const body of bodies) {
      const ok = this.channel.publish(exchange, routingKey, typeof body === 'string' ? Buffer.from(body) : body, { contentType: 'application/json', deliveryMode: 1 });
      if (!ok) await new Promise((r) => this.channel.once('drain', r));
    }
    await this.channel.waitForConfirms();
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}
