/**
 * NotabeneHandler (spec §4.7, §8.2) against the real broker: UsageHandler → NotabeneHandler
 * publishes the generated `.verified` event in upstream's JSON shape; an existing non-durable
 * exchange (as oslo declares `nova`) is used as it is instead of failing with a 406; nothing is
 * published before commit or after rollback; a publish the broker does not confirm makes commit
 * reject and the next run recovers; bad params fail at construction.
 */
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeNotabeneConnections, createNotabeneHandler } from '../../src/pipeline-worker/handlers/notabene.js';
import type { PipelineEnv, PipelineHandler } from '../../src/pipeline-worker/handlers/types.js';
import { createUsageHandler, USAGE_NOTIFICATIONS_KEY } from '../../src/pipeline-worker/handlers/usage.js';
import type { Event } from '../../src/shared/event.js';
import { DateTime } from '../../src/shared/time.js';
import { amqpUrl, randomName } from '../helpers/amqp.js';
import { blockBrokerConnections, brokerConnections, closeBrokerConnections } from '../helpers/faults.js';
import { eventually } from '../helpers/processes.js';

const T = (text: string): DateTime => DateTime.parse(text);
const EXISTS_ID = '11111111-2222-3333-4444-555555555555';
/** uuid5(EXISTS_ID, 'compute.instance.exists.verified'), spec §4.7. */
const VERIFIED_ID = 'a3917aa2-3dbb-56db-9f4a-41a8ee861ace';

// ---------------------------------------------------------------------------------------
// The broker, as the handler params and as a test connection

const url = new URL(amqpUrl());
const BROKER_PARAMS = {
  host: url.hostname,
  port: Number(url.port || 5672),
  user: decodeURIComponent(url.username || 'guest'),
  password: decodeURIComponent(url.password || 'guest'),
  vhost: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : '/',
};

let admin: ChannelModel;
beforeAll(async () => {
  admin = await connect(amqpUrl());
});
afterAll(async () => {
  await closeNotabeneConnections();
  await admin.close();
});

/** Runs one broker operation on its own channel (a failed one closes its channel). */
async function onChannel<T>(operation: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await admin.createChannel();
  ch.on('error', () => undefined);
  try {
    return await operation(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

const messageCount = async (queue: string): Promise<number> => (await onChannel((ch) => ch.checkQueue(queue))).messageCount;

/** The next message on the queue (removed), waiting a little for it. */
async function receive(queue: string): Promise<GetMessage> {
  const message = await eventually(() => onChannel((ch) => ch.get(queue, { noAck: true })), (m) => m !== false, 5_000, 50);
  if (message === false) throw new Error('unreachable');
  return message;
}

/** A fresh exchange and queue name for a test, deleted afterwards. */
async function withTopology(test: (names: { exchange: string; queue: string }) => Promise<void>): Promise<void> {
  const names = { exchange: randomName('nova'), queue: randomName('monitor.info') };
  try {
    await test(names);
  } finally {
    await onChannel((ch) => ch.deleteQueue(names.queue)).catch(() => undefined);
    await onChannel((ch) => ch.deleteExchange(names.exchange)).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// Running the pipeline

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function capture(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { log, lines };
}

function notabene(names: { exchange: string; queue: string }, log: Logger, extra: Record<string, unknown> = {}): PipelineHandler {
  return createNotabeneHandler(
    { ...BROKER_PARAMS, library: 'librabbitmq', exchange: names.exchange, exchange_type: 'topic', queue_name: names.queue, env_keys: [USAGE_NOTIFICATIONS_KEY], ...extra },
    { log, now: () => T('2015-03-01 00:00:00') },
  );
}

/** An instance-day stream that verifies: one update, then the EOD `.exists`. */
function stream(): Event[] {
  return [
    { messageId: '00000000-0000-4000-8000-000000000001', eventType: 'compute.instance.update', timestamp: T('2015-02-27 10:00:01'), traits: { instance_id: 'inst-1' } },
    {
      messageId: EXISTS_ID,
      eventType: 'compute.instance.exists',
      timestamp: T('2015-02-28 00:27:18.603932'),
      traits: {
        instance_id: 'inst-1',
        tenant_id: '123',
        state: 'active',
        launched_at: T('2015-02-27 10:00:00'),
        audit_period_beginning: T('2015-02-27 00:00:00'),
        audit_period_ending: T('2015-02-28 00:00:00'),
        instance_flavor_id: 2n,
        bandwidth_in: 2n ** 60n,
        bandwidth_out: 12345n,
        cpu_ratio: 1.5,
        odd_float: Number.NaN,
        deleted_at: null,
      },
    },
  ];
}

/** Runs logger-less usage → notabene as the pipeline worker does, up to (not including) commit. */
async function runUsageThenNotabene(handler: PipelineHandler): Promise<{ env: PipelineEnv; out: Event[] }> {
  const { log } = capture();
  const usage = createUsageHandler({}, { log, now: () => T('2015-03-01 00:00:00') });
  const env: PipelineEnv = { streamId: 42, streamName: 'test_trigger' };
  const afterUsage = await usage.handleEvents(stream(), env);
  const out = await handler.handleEvents(afterUsage, env);
  expect(out).toBe(afterUsage);
  return { env, out };
}

async function publishOnce(names: { exchange: string; queue: string }, log: Logger): Promise<void> {
  const handler = notabene(names, log);
  await runUsageThenNotabene(handler);
  await handler.commit();
}

// ---------------------------------------------------------------------------------------

describe('NotabeneHandler', () => {
  it('publishes the verified event UsageHandler left in usage_notifications, in upstream JSON, persistent, confirmed', async () => {
    await withTopology(async (names) => {
      const { log, lines } = capture();
      const handler = notabene(names, log);
      const { env } = await runUsageThenNotabene(handler);
      expect((env[USAGE_NOTIFICATIONS_KEY] as Event[]).map((e) => e.messageId)).toEqual([VERIFIED_ID]);
      await handler.commit();

      const message = await receive(names.queue);
      expect(message.fields.exchange).toBe(names.exchange);
      expect(message.fields.routingKey).toBe(names.queue);
      expect(message.properties).toMatchObject({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2, messageId: VERIFIED_ID });
      const text = message.content.toString('utf8');
      expect(text.startsWith(`{"message_id":"${VERIFIED_ID}","event_type":"compute.instance.exists.verified","timestamp":"2015-02-28 00:27:18.603932",`)).toBe(true);
      expect(JSON.parse(text)).toStrictEqual({
        message_id: VERIFIED_ID,
        event_type: 'compute.instance.exists.verified',
        timestamp: '2015-02-28 00:27:18.603932',
        instance_id: 'inst-1',
        tenant_id: '123',
        state: 'active',
        launched_at: '2015-02-27 10:00:00',
        audit_period_beginning: '2015-02-27 00:00:00',
        audit_period_ending: '2015-02-28 00:00:00',
        instance_flavor_id: 2,
        bandwidth_in: '1152921504606846976', // beyond 2^53: digits, not a rounded number
        bandwidth_out: 12345,
        cpu_ratio: 1.5,
        odd_float: 'NaN',
        rax_options: '0',
        original_message_id: EXISTS_ID,
        publisher_id: 'stv3',
        stream_id: 42,
      });
      expect(await messageCount(names.queue)).toBe(0); // exactly one message

      // The queue is durable (declared as upstream did): a durable redeclaration is accepted.
      await expect(onChannel((ch) => ch.assertQueue(names.queue, { durable: true }))).resolves.toMatchObject({ queue: names.queue });
      // The exchange did not exist, so it was declared durable with the configured type.
      await expect(onChannel((ch) => ch.assertExchange(names.exchange, 'topic', { durable: true }))).resolves.toBeDefined();

      const published = lines.find((l) => l.msg === 'Published 1 notifications');
      expect(published).toMatchObject({ streamId: 42, exchange: names.exchange, routingKey: names.queue, events: [`compute.instance.exists.verified: ${VERIFIED_ID}`] });
      expect(JSON.stringify(lines)).not.toContain(`:${BROKER_PARAMS.password}@`);
    });
  });

  it('uses an existing non-durable exchange (oslo declares nova so) as it is: no 406, the message arrives', async () => {
    await withTopology(async (names) => {
      await onChannel((ch) => ch.assertExchange(names.exchange, 'topic', { durable: false, autoDelete: false }));
      const { log, lines } = capture();
      await publishOnce(names, log);

      expect(JSON.parse((await receive(names.queue)).content.toString()).message_id).toBe(VERIFIED_ID);
      // Still the non-durable exchange: a non-durable redeclaration would be a 406 otherwise.
      await expect(onChannel((ch) => ch.assertExchange(names.exchange, 'topic', { durable: false }))).resolves.toBeDefined();
      expect(lines.find((l) => l.exchangeExisted !== undefined)).toMatchObject({ level: 30, exchangeExisted: true, queue: names.queue });
    });
  });

  it('uses an existing queue with other arguments as it is, with a warning', async () => {
    await withTopology(async (names) => {
      await onChannel((ch) => ch.assertQueue(names.queue, { durable: false, messageTtl: 60_000 }));
      const { log, lines } = capture();
      await publishOnce(names, log);

      expect(JSON.parse((await receive(names.queue)).content.toString()).message_id).toBe(VERIFIED_ID);
      const warning = lines.find((l) => l.msg === 'queue exists with other arguments; using it as it is');
      expect(warning).toMatchObject({ level: 40, queue: names.queue });
      expect((warning?.['err'] as { message: string }).message).toContain('PRECONDITION_FAILED');
    });
  });

  it('publishes nothing from handleEvents alone, nor after rollback', async () => {
    await withTopology(async (names) => {
      const { log } = capture();
      const collected = notabene(names, log);
      await runUsageThenNotabene(collected);
      await new Promise((r) => setTimeout(r, 200));
      // No side effect at all before commit: not even the exchange was declared.
      await expect(onChannel((ch) => ch.checkExchange(names.exchange))).rejects.toMatchObject({ code: 404 });

      await onChannel(async (ch) => {
        await ch.assertExchange(names.exchange, 'topic', { durable: true });
        await ch.assertQueue(names.queue, { durable: true });
        await ch.bindQueue(names.queue, names.exchange, names.queue);
      });
      const rolledBack = notabene(names, log);
      await runUsageThenNotabene(rolledBack);
      await rolledBack.rollback();
      await rolledBack.commit(); // what rollback dropped is not published by a later commit
      await new Promise((r) => setTimeout(r, 200));
      expect(await messageCount(names.queue)).toBe(0);
    });
  });

  it('publishes nothing when the env keys are absent, and rejects an env value that is not a list of events', async () => {
    await withTopology(async (names) => {
      const { log } = capture();
      const handler = notabene(names, log);
      const events = stream();
      expect(await handler.handleEvents(events, { streamId: 1, streamName: 's' })).toBe(events);
      await handler.commit();
      await expect(onChannel((ch) => ch.checkExchange(names.exchange))).rejects.toMatchObject({ code: 404 });

      expect(() => handler.handleEvents(events, { streamId: 1, streamName: 's', [USAGE_NOTIFICATIONS_KEY]: 'oops' })).toThrow(
        "notabene: env['usage_notifications'] is not a list of events",
      );
    });
  });

  it('rejects commit when the exchange is deleted before it, and the next run recreates it and publishes', async () => {
    await withTopology(async (names) => {
      const { log, lines } = capture();
      await publishOnce(names, log);
      await receive(names.queue);

      const handler = notabene(names, log);
      await runUsageThenNotabene(handler);
      await onChannel((ch) => ch.deleteExchange(names.exchange));
      await expect(handler.commit()).rejects.toThrow(
        new RegExp(`1 of 1 messages to exchange '${names.exchange.replace('.', '\\.')}' .* not confirmed by the broker: .*NOT_FOUND - no exchange`),
      );

      await publishOnce(names, log);
      expect(JSON.parse((await receive(names.queue)).content.toString()).message_id).toBe(VERIFIED_ID);
      expect(lines.find((l) => l.msg === 'notabene broker connection or channel was closed; reconnecting')).toMatchObject({ level: 40 });
    });
  });

  it('rejects commit when the queue is gone (unroutable), and the next run declares it again', async () => {
    await withTopology(async (names) => {
      const { log } = capture();
      await publishOnce(names, log);
      await onChannel((ch) => ch.deleteQueue(names.queue));

      const handler = notabene(names, log);
      await runUsageThenNotabene(handler);
      await expect(handler.commit()).rejects.toThrow(/not confirmed by the broker: message .* was unroutable/);

      await publishOnce(names, log);
      expect(JSON.parse((await receive(names.queue)).content.toString()).message_id).toBe(VERIFIED_ID);
    });
  });

  it('reconnects on the next commit when the broker closed its connection, with a warning', async () => {
    await withTopology(async (names) => {
      const { log, lines } = capture();
      await publishOnce(names, log);
      await receive(names.queue);

      const fragment = `notabene pid ${process.pid}`;
      const before = await brokerConnections(fragment);
      expect(before).toHaveLength(1);
      await closeBrokerConnections(before);
      await eventually(() => brokerConnections(fragment), (pids) => pids.length === 0, 10_000);

      await publishOnce(names, log);
      expect(JSON.parse((await receive(names.queue)).content.toString()).message_id).toBe(VERIFIED_ID);
      const warning = lines.find((l) => l.msg === 'notabene broker connection or channel was closed; reconnecting');
      expect((warning?.['err'] as { message: string }).message).toContain('CONNECTION_FORCED');
      expect(await brokerConnections(fragment)).toHaveLength(1);
    });
  });

  it('a broker that blocks publishers (memory alarm): commit rejects after the confirm timeout naming the block, without hanging; the next run publishes', async () => {
    await withTopology(async (names) => {
      const { log, lines } = capture();
      await closeNotabeneConnections(); // a session of this test's own, logging to `lines`
      await publishOnce(names, log);
      await receive(names.queue);
      const pids = await brokerConnections(`notabene pid ${process.pid}`);
      expect(pids).toHaveLength(1);
      await blockBrokerConnections(pids, true);
      try {
        const handler = notabene(names, log, { confirm_timeout_seconds: 1 });
        await runUsageThenNotabene(handler);
        const started = Date.now();
        await expect(handler.commit()).rejects.toThrow(/no confirm from the broker within 1 s \(the broker blocks publishers: low on memory\)/);
        expect(Date.now() - started).toBeLessThan(5000);
        expect(lines.some((l) => /the broker blocks publishers/.test(l.msg) && l['reason'] === 'low on memory')).toBe(true);
      } finally {
        await blockBrokerConnections(pids, false);
      }
      await publishOnce(names, log);
      // The blocked message may arrive too once the broker recovers (at-least-once): the same message_id.
      const ids = new Set([JSON.parse((await receive(names.queue)).content.toString()).message_id as string]);
      expect(ids).toEqual(new Set([VERIFIED_ID]));
    });
  });

  it.each([
    ['exchange missing', { queue_name: 'q' }, "notabene: param 'exchange' is required"],
    ['queue_name missing', { exchange: 'x' }, "notabene: param 'queue_name' is required"],
    ['port not a number', { exchange: 'x', queue_name: 'q', port: 'amqp' }, "notabene: param 'port' must be a port number (1-65535), got the string \"amqp\""],
    ['port out of range', { exchange: 'x', queue_name: 'q', port: 70000 }, "notabene: param 'port' must be a port number (1-65535), got number 70000"],
    ['exchange empty', { exchange: '', queue_name: 'q' }, "notabene: param 'exchange' must not be empty"],
    ['password a number', { exchange: 'x', queue_name: 'q', password: 1234 }, "notabene: param 'password' must be a string, got number 1234 (quote it in YAML)"],
    ['env_keys a string', { exchange: 'x', queue_name: 'q', env_keys: 'usage_notifications' }, "notabene: param 'env_keys' must be a list of strings, got the string \"usage_notifications\""],
    ['an unknown param', { exchange: 'x', queue_name: 'q', env_key: ['usage_notifications'] }, "notabene: unknown param 'env_key' (known: host, user, password, port, vhost, library, exchange, exchange_type, queue_name, env_keys, confirm_timeout_seconds)"],
  ])('throws at construction for bad params: %s', (_case, params, message) => {
    const { log } = capture();
    expect(() => createNotabeneHandler(params, { log, now: () => T('2015-03-01 00:00:00') })).toThrow(message);
  });

  it('accepts the sandbox params as they are (port as a number or a quoted number)', () => {
    const { log } = capture();
    const sandbox = { host: 'localhost', user: 'guest', password: 'guest', vhost: '/', library: 'librabbitmq', exchange: 'nova', exchange_type: 'topic', queue_name: 'monitor.info', env_keys: ['usage_notifications'] };
    expect(() => createNotabeneHandler({ ...sandbox, port: 5672 }, { log, now: () => T('2015-03-01 00:00:00') })).not.toThrow();
    expect(() => createNotabeneHandler({ ...sandbox, port: '5672' }, { log, now: () => T('2015-03-01 00:00:00') })).not.toThrow();
  });
});
