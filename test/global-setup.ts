/**
 * Integration tests use the MariaDB and RabbitMQ named by MYSQL_URL / AMQP_URL, defaulting to
 * the local services every dev and CI machine runs. On a fresh machine without them, the same
 * check as `npm run sandbox` (src/sandbox/services.ts): each service missing at its URL is
 * started with testcontainers when Docker answers (and stopped after the run), else the run
 * stops at once with one message naming the services and how to start them.
 *
 * Each test file creates its own database and random queue names (test/helpers), so files run
 * in parallel and can be rerun. The URLs reach the test files through the environment, which
 * the workers inherit.
 */
import { ensureServices, ServicesUnavailableError } from '../src/sandbox/services.js';

export default async function setup(): Promise<() => Promise<void>> {
  process.env['MYSQL_URL'] ??= 'mysql://root@127.0.0.1:3306/test';
  process.env['AMQP_URL'] ??= 'amqp://guest:guest@127.0.0.1:5672';
  let services;
  try {
    services = await ensureServices({ mysqlUrl: process.env['MYSQL_URL'], amqpUrl: process.env['AMQP_URL'], say: (line) => /Docker|container/.test(line) && process.stderr.write(`test services: ${line}\n`) });
  } catch (err) {
    if (!(err instanceof ServicesUnavailableError)) throw err;
    const e = new Error(`the tests need MariaDB and RabbitMQ.\n${err.message}`);
    e.stack = e.message; // one message, no stack trace
    throw e;
  }
  if (services.mysql.containerId) {
    const url = new URL(services.mysql.url);
    url.pathname = '/test';
    process.env['MYSQL_URL'] = url.href;
  }
  if (services.amqp.containerId) process.env['AMQP_URL'] = services.amqp.url;
  return async () => {
    await Promise.all(services.started.map((c) => c.stop().catch(() => undefined)));
  };
}
