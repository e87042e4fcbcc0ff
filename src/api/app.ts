/**
 * The API's fastify application (spec §7): upstream's /v1 and /v2 routes, our /v2 additions
 * (quarantine, explain, status), /health and /metrics. Stateless apart from caches of
 * immutable data, so any number of nodes can run behind a load balancer.
 *
 * Every response body is JSON (`application/json; charset=utf-8`), errors included
 * (errors.ts). Each request is logged once, when it completes, with its status and duration.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { EventTypeIds } from '../shared/store/events.js';
import type { EventSearchLimits } from '../shared/store/find-events.js';
import type { ApiConfig } from './config.js';
import { installErrorHandlers } from './errors.js';
import { EventJsonCache } from './event-json-cache.js';
import { StreamPageCache } from './page-cache.js';
import { ApiMetrics } from './metrics.js';
import { registerEventRoutes } from './routes/events.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerQuarantineRoutes } from './routes/quarantine.js';
import { registerStreamRoutes } from './routes/streams.js';
import { requireMutationRights } from './auth.js';
import { parseIso8601 } from '../shared/distiller/iso8601.js';
import type { DateTime } from '../shared/time.js';

/** What the routes share. */
export interface ApiContext {
  readonly pool: Pool;
  readonly log: Logger;
  readonly config: ApiConfig;
  readonly limits: EventSearchLimits;
  readonly eventTypes: EventTypeIds;
  readonly metrics: ApiMetrics;
  readonly eventCache: EventJsonCache;
  readonly pageCache: StreamPageCache;
  /** preHandler of the mutating routes. */
  readonly mutation: ReturnType<typeof requireMutationRights>;
  /** The replay clock when time_sync_endpoint is set, else null (the database clock). */
  replayNow(): Promise<DateTime | null>;
}

/** Serialised events kept for stream details, and stream list pages, per process. */
const EVENT_CACHE_BYTES = 128 * 1024 * 1024;
const PAGE_CACHE_BYTES = 64 * 1024 * 1024;

export interface BuildOptions {
  readonly pool: Pool;
  readonly log: Logger;
  readonly config: ApiConfig;
}

export function buildApp(options: BuildOptions): FastifyInstance {
  const { pool, log, config } = options;
  const raw = config.winchester.raw;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    bodyLimit: 1024 * 1024,
  });
  const metrics = new ApiMetrics();
  const ctx: ApiContext = {
    pool,
    log,
    config,
    limits: { indexedTraits: new Set(raw.indexed_traits), maxScanSeconds: raw.api_trait_scan_max_seconds },
    eventTypes: new EventTypeIds(pool),
    metrics,
    eventCache: new EventJsonCache(EVENT_CACHE_BYTES),
    pageCache: new StreamPageCache(PAGE_CACHE_BYTES),
    mutation: requireMutationRights({ token: config.token, readOnly: config.readOnly }),
    replayNow: raw.time_sync_endpoint ? timeSyncReader(raw.time_sync_endpoint) : async () => null,
  };
  installErrorHandlers(app, () => metrics.serverErrors.inc());
  app.addHook('onResponse', async (request, reply) => {
    const ms = reply.elapsedTime;
    request.log.info({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  });
  for (const version of config.versions) {
    void app.register(
      async (scope) => {
        registerStreamRoutes(scope, ctx, version);
        registerEventRoutes(scope, ctx);
        if (version === 2) registerQuarantineRoutes(scope, ctx);
      },
      { prefix: `/v${version}` },
    );
  }
  registerHealthRoutes(app, ctx);
  return app;
}

/** Reads `<endpoint>/time` (the replay clock, spec §4.8); null when it cannot be read. */
function timeSyncReader(endpoint: string): () => Promise<DateTime | null> {
  const url = `${endpoint.replace(/\/+$/, '')}/time`;
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = (await res.text()).trim();
      return res.ok && body !== '' && body !== 'None' ? parseIso8601(body) : null;
    } catch {
      return null;
    }
  };
}
