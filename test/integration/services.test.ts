/**
 * The service check shared by `npm run sandbox` and the test setup (src/sandbox/services.ts),
 * run as a child process (`node dist/sandbox/main.js --check`) with unreachable URLs and a
 * DOCKER_HOST that answers nothing: exit 1 and one message naming the missing service, its
 * URL and how to start it on Debian/Ubuntu and macOS; nothing said about the service that is there.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { amqpUrl } from '../helpers/amqp.js';
import { serverUrl } from '../helpers/db.js';
import { freePort, ROOT } from '../helpers/processes.js';

function check(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist/sandbox/main.js'), '--check'], { cwd: ROOT, env: { ...process.env, MYSQL_URL: serverUrl().href, AMQP_URL: amqpUrl(), ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('service check', () => {
  it('names MariaDB, its URL and how to start it when it is unreachable and Docker is not there', async () => {
    const port = await freePort();
    const dockerPort = await freePort();
    const r = await check({ MYSQL_URL: `mysql://root@127.0.0.1:${port}/`, DOCKER_HOST: `tcp://127.0.0.1:${dockerPort}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MariaDB is not reachable, and Docker is not available to start it');
    expect(r.stderr).toContain(`DOCKER_HOST=tcp://127.0.0.1:${dockerPort} does not answer`);
    expect(r.stderr).toContain(`MariaDB at mysql://root@127.0.0.1:${port}/: connect ECONNREFUSED`);
    expect(r.stderr).toMatch(/Debian\/Ubuntu: sudo apt-get install -y mariadb-server/);
    expect(r.stderr).toMatch(/macOS: +brew install mariadb/);
    expect(r.stderr).not.toContain('RabbitMQ at');
    expect(r.stdout).toMatch(/^RabbitMQ [\d.]+ at amqp:/m);
  });

  it('names RabbitMQ, and both when both are missing', async () => {
    const port = await freePort();
    const rabbit = await check({ AMQP_URL: `amqp://guest:secret@127.0.0.1:${port}`, DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(rabbit.code).toBe(1);
    expect(rabbit.stderr).toContain(`RabbitMQ at amqp://guest:***@127.0.0.1:${port}: connect ECONNREFUSED`);
    expect(rabbit.stderr).not.toContain('secret');
    expect(rabbit.stderr).toMatch(/macOS: +brew install rabbitmq && brew services start rabbitmq/);

    const both = await check({ MYSQL_URL: `mysql://root@127.0.0.1:${port}/`, AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}`, STV3_DOCKER: '0' });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('MariaDB and RabbitMQ are not reachable, and Docker is not available to start them (STV3_DOCKER=0)');
    expect(both.stderr).toContain('mariadb-server');
    expect(both.stderr).toContain('rabbitmq-server');
  });

  it('says both are ready when they answer', async () => {
    const r = await check({});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('MariaDB and RabbitMQ: ready');
  });
});
