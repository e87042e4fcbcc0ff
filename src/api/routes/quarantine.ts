/**
 * Quarantine routes (ours, /v2 only; invariant 6):
 *   GET    /quarantine              cell, from_datetime, to_datetime (received_at), mark, limit
 *   GET    /quarantine/count        the same filters → [{"count": N}]
 *   GET    /quarantine/{id}         one entry with its body (text, or base64 when not UTF-8)
 *   POST   /quarantine/replay       {"ids": [1, 2, …]} (at most 1,000) → per id: stored,
 *                                   duplicate, poison (reason) or not_found
 *   POST   /quarantine/{id}/replay  the same for one id
 *   DELETE /quarantine/{id}         forget it
 * Replay and delete need the API token (auth.ts).
 */
import type { FastifyInstance } from 'fastify';
import { countQuarantine, deleteQuarantined, getQuarantined, listQuarantine, type QuarantineQuery, type QuarantineSummary } from '../../shared/store/quarantine-queries.js';
import { markOf, type SortDirection } from '../../shared/store/query-terms.js';
import type { ApiContext } from '../app.js';
import { ApiError, notFound } from '../errors.js';
import { MAX_LIMIT, optionalDateTime, parseId, parseMark, parsePage, single, type Query } from '../params.js';
import { replayQuarantined } from '../quarantine-replay.js';
import { countJson, RawJson, toJson, type ApiValue } from '../serialize.js';
import { checkParameters, sendJson } from './common.js';

const FILTERS = ['cell', 'from_datetime', 'to_datetime', 'mark', 'limit'];

function quarantineQuery(q: Query): QuarantineQuery {
  const cell = single(q, 'cell');
  return { cell: cell === '' ? undefined : cell, from: optionalDateTime(q, 'from_datetime'), to: optionalDateTime(q, 'to_datetime') };
}

function summaryFields(e: QuarantineSummary): Record<string, ApiValue> {
  return {
    id: e.id,
    received_at: e.receivedAt,
    cell: e.cell,
    queue: e.queue,
    reason: e.reason,
    message_id: e.messageId,
    event_type: e.eventType,
    body_size: e.bodySize,
    body_truncated: e.bodyTruncated,
  };
}

function listJson(e: QuarantineSummary, direction: SortDirection): string {
  return toJson({ ...summaryFields(e), _mark: markOf(e.id, direction) });
}

export function registerQuarantineRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/quarantine', async (request, reply) => {
    const q = checkParameters(request, FILTERS);
    const query = quarantineQuery(q);
    const page = parsePage(q);
    const rows = await listQuarantine(ctx.pool, query, page);
    return sendJson(reply, `[${rows.map((r) => listJson(r, page.direction)).join(', ')}]`);
  });

  app.get('/quarantine/count', async (request, reply) => {
    const q = checkParameters(request, FILTERS);
    const query = quarantineQuery(q);
    parsePage(q);
    return sendJson(reply, countJson(await countQuarantine(ctx.pool, query, parseMark(q))));
  });

  app.get<{ Params: { id: string } }>('/quarantine/:id', async (request, reply) => {
    checkParameters(request, []);
    const id = parseId(request.params.id, 'id');
    const entry = await getQuarantined(ctx.pool, id);
    if (!entry) throw notFound(`no quarantined message ${id}`);
    const text = new TextDecoder('utf-8', { fatal: true });
    let body: string;
    let encoding: 'utf-8' | 'base64';
    try {
      body = text.decode(entry.body);
      encoding = 'utf-8';
    } catch {
      body = entry.body.toString('base64');
      encoding = 'base64';
    }
    return sendJson(reply, toJson({ ...summaryFields(entry), properties: entry.properties === null ? null : new RawJson(JSON.stringify(entry.properties)), body_encoding: encoding, body }));
  });

  const replay = async (ids: number[]): Promise<string> => {
    if (!ctx.config.distiller) throw new ApiError(503, `replay needs distiller_config in ${ctx.config.winchester.file}`);
    const results = await replayQuarantined(
      {
        pool: ctx.pool,
        distiller: ctx.config.distiller,
        triggers: ctx.config.triggers,
        indexedTraits: ctx.limits.indexedTraits,
        eventTypes: ctx.eventTypes,
        eventTimeClock: ctx.config.winchester.raw.time_sync_endpoint !== undefined,
        log: ctx.log,
      },
      ids,
    );
    ctx.log.info({ results }, 'quarantine replayed');
    return toJson(results as unknown as ApiValue);
  };

  app.post('/quarantine/replay', { preHandler: ctx.mutation }, async (request, reply) => {
    checkParameters(request, []);
    const body = request.body as { ids?: unknown } | undefined;
    const ids = body?.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_LIMIT || !ids.every((i) => Number.isSafeInteger(i) && (i as number) > 0)) {
      throw new ApiError(400, `ids: send a JSON body {"ids": [1, 2, …]} with 1 to ${MAX_LIMIT} positive integer ids`, 'ids');
    }
    return sendJson(reply, await replay([...new Set(ids as number[])]));
  });

  app.post<{ Params: { id: string } }>('/quarantine/:id/replay', { preHandler: ctx.mutation }, async (request, reply) => {
    checkParameters(request, []);
    return sendJson(reply, await replay([parseId(request.params.id, 'id')]));
  });

  app.delete<{ Params: { id: string } }>('/quarantine/:id', { preHandler: ctx.mutation }, async (request, reply) => {
    checkParameters(request, []);
    const id = parseId(request.params.id, 'id');
    if (!(await deleteQuarantined(ctx.pool, id))) throw notFound(`no quarantined message ${id}`);
    request.log.info({ quarantineId: id }, 'quarantined message deleted');
    return reply.code(200).send();
  });
}
