/**
 * A worker's own metrics and health endpoint (off unless a port is given): `GET /metrics` in
 * Prometheus text format (prom-client, with Node's default process metrics), `GET /health`
 * 200 `ok` or 503 with the reason. The port is `--metrics-port N`, or, for pm2 apps with
 * several instances, STV3_METRICS_PORT_BASE + NODE_APP_INSTANCE (ecosystem.config.js sets it
 * from the deployment file's metrics_port_base).
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';

export interface MetricsEndpoint {
  readonly registry: Registry;
  close(): Promise<void>;
}

/** The port to listen on, from the option or the pm2 environment; null: metrics off. */
export function metricsPort(option: string | undefined, env: NodeJS.ProcessEnv = process.env): number | null {
  const base = option ?? env['STV3_METRICS_PORT_BASE'];
  if (base === undefined || base === '') return null;
  const port = Number(base) + (option === undefined ? Number(env['NODE_APP_INSTANCE'] ?? 0) : 0);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`metrics port: not a port number: ${base}`);
  return port;
}

/**
 * Starts the endpoint. `health()` returns null when healthy, else the reason (503).
 * Resolves once listening; rejects if the port is taken.
 */
export async function startMetricsServer(port: number, host: string, labels: Record<string, string>, health: () => string | null, log: Logger, registry = new Registry()): Promise<MetricsEndpoint> {
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/health') {
      const problem = health();
      res.writeHead(problem === null ? 200 : 503, { 'content-type': 'text/plain' }).end(problem ?? 'ok');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log.info({ url: `http://${host}:${port}/metrics` }, 'metrics endpoint listening');
  return { registry, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
