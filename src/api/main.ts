#!/usr/bin/env node
/**
 * API node (spec §7): upstream's quincy/quince routes and ours over the event store (pm2 app
 * `api`; stateless, so run several behind the operators' load balancer).
 *
 *   node dist/api/main.js --config winchester.yaml|quincy.conf [--port 8000] [--host 127.0.0.1]
 *
 * Start order: configuration (exit 1 naming file, key and reason), the listen address against
 * the auth settings, database, then listen; pm2 gets `ready` once listening. The schema is
 * not migrated here (the workers and `stv3 migrate` do that); /health answers 503 until it is
 * current. SIGINT/SIGTERM: stop accepting, finish the requests in hand, close the pool, exit.
 * SIGHUP: re-reads event definitions and triggers (quarantine replay, explain); a broken file is
 * rejected and the ones in force stay.
 */
import { parseArgs } from 'node:util';
import { openDatabase } from '../shared/db/connect.js';
import { ConfigError } from '../shared/errors.js';
import { exitOnStartupError, handleReload, handleSignals, notifyReady } from '../shared/lifecycle.js';
import { createLogger } from '../shared/logger.js';
import { buildApp } from './app.js';
import { isLoopback } from './auth.js';
import { loadApiConfig, reloadDefinitions, type ApiConfig } from './config.js';

const POOL_CONNECTIONS = 8;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p', default: '8000' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const log = createLogger({ base: { app: 'api', instance: process.env['NODE_APP_INSTANCE'] ?? '0' } });
  let config: ApiConfig;
  let port: number;
  try {
    if (!values.config) throw new Error('--config winchester.yaml (or quincy.conf) is required');
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('command line', '--port', `expected a port number, got ${JSON.stringify(values.port)}`);
    config = loadApiConfig(values.config);
    if (!config.readOnly && config.token === null && !isLoopback(values.host)) {
      throw new ConfigError(
        config.winchester.file,
        'api_token',
        `the API would listen on ${values.host} and let anyone reset, delete and replay: set api_token or api_token_file (or STV3_API_TOKEN), or api_read_only: true, or listen on 127.0.0.1`,
      );
    }
  } catch (err) {
    exitOnStartupError(err, 'api');
  }
  log.level = (process.env['STV3_LOG_LEVEL'] ?? config.winchester.raw.log_level).toLowerCase();
  for (const w of config.warnings) log.warn(w);

  const startup = new AbortController();
  let stopAll: () => Promise<void> = async () => startup.abort();
  handleSignals(log, () => stopAll());
  const configFile = values.config!;
  handleReload(log, () => reloadDefinitions(config, loadApiConfig(configFile)));
  const pool = await openDatabase(config.winchester.database, POOL_CONNECTIONS, log.child({ component: 'db' }), startup.signal);
  const app = buildApp({ pool, log: log.child({ component: 'http' }), config });
  stopAll = async () => {
    await app.close();
    await pool.end();
  };
  const address = await app.listen({ port, host: values.host });
  notifyReady();
  log.info({ address, versions: config.versions, mutations: config.readOnly ? 'off' : config.token ? 'token' : 'open (loopback)' }, 'api listening');
}

main().catch((err: unknown) => exitOnStartupError(err, 'api'));
