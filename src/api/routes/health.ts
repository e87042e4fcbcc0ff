/**
 * Operations routes:
 *   GET /health      200 {"status": "ok", …} when the database answers and every migration is
 *                    applied; 503 with what is wrong otherwise (for the load balancer)
 *   GET /metrics     Prometheus text format (metrics.ts)
 *   GET /v2/status   the same state as JSON, for `stv3 status`
 */
import type { FastifyInstance } from 'fastify';
import type { Connection } from 'mysql2/promise';
import { toError } from '../../shared/errors.js';
import { pendingMigrations } from '../../shared/db/migrate.js';
import { readSystemStatus } from '../../shared/store/metrics-queries.js';
import type { ApiContext } from '../app.js';
import { toJson } from '../serialize.js';
import { checkParameters, sendJson } from './common.js';

export function registerHealthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/health', async (request, reply) => {
    checkParameters(request, []);
    let pending: string[];
    try {
      // pendingMigrations only queries; a pool answers like a connection.
      pending = (await pendingMigrations(ctx.pool as unknown as Connection)).map((m) => m.name);
    } catch (err) {
      return sendJson(reply, toJson({ status: 'unavailable', database: `unreachable: ${toError(err).message}` }), 503);
    }
    if (pending.length > 0) return sendJson(reply, toJson({ status: 'unavailable', database: 'reachable', migrations: `pending: ${pending.join(', ')} (run stv3 migrate)` }), 503);
    return sendJson(reply, toJson({ status: 'ok', database: 'reachable', migrations: 'current' }));
  });

  app.get('/metrics', async (request, reply) => {
    checkParameters(request, []);
    const text = await ctx.metrics.render(ctx.pool, await ctx.replayNow());
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });

  if (!ctx.config.versions.includes(2)) return;
  app.get('/v2/status', async (request, reply) => {
    checkParameters(request, []);
    const s = await readSystemStatus(ctx.pool, await ctx.replayNow());
    return sendJson(
      reply,
      toJson({
        now: s.now,
        cells: s.cells.map((c) => ({ cell: c.cell, events_stored: c.eventsStored, duplicates: c.duplicates, quarantined: c.quarantined, last_ingest_at: c.lastIngestAt, last_event_at: c.lastEventAt })),
        streams_by_state: s.streamsByState,
        streams_by_trigger: s.streamsByTrigger.map((t) => ({ trigger: t.trigger, state: t.state, count: t.count })),
        oldest_due: s.oldestDue && { kind: s.oldestDue.kind, id: s.oldestDue.id, name: s.oldestDue.name, state: s.oldestDue.state, due: s.oldestDue.due, age_seconds: s.oldestDue.ageSeconds },
        quarantine: { total: s.quarantineByCell.reduce((n, q) => n + q.count, 0), by_cell: s.quarantineByCell.map((q) => ({ cell: q.cell, count: q.count })) },
        errors: { streams_errored: s.streamsByState.error + s.streamsByState.expire_error },
      }),
    );
  });
}
