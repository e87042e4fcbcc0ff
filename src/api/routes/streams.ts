/**
 * Stream routes (spec §7.2), under /v1 and /v2:
 *   GET    /streams              older_than, younger_than, state, trigger_name (or klugman's
 *                                `name`), distinguishing_traits, q.*, details, mark, limit
 *   GET    /streams/count        the same filters → [{"count": N}]
 *   GET    /streams/{id}         details → [stream] (404 when unknown)
 *   PUT    /streams/{id}         reset an errored stream (POST with X-HTTP-Method-Override: PUT too)
 *   DELETE /streams/{id}         delete it (its events stay)   (POST + override DELETE too)
 * and under /v2 only:
 *   GET    /streams/{id}/explain why it has not fired or expired yet
 *   GET    /archives[/{id}]      404: there are no archives (see README "API")
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { explainStream, type StreamExplanation } from '../../shared/store/explain-stream.js';
import { countStreams, deleteStream, findStreamRows, getStream, withDistinguishingTraits, type StreamQuery } from '../../shared/store/find-streams.js';
import { retryStream } from '../../shared/store/stream-retry.js';
import { stateName } from '../../shared/store/stream-states.js';
import type { ApiContext } from '../app.js';
import { ApiError, notFound } from '../errors.js';
import { optionalDateTime, parseTraitFilters, parseBoolean, parseId, parsePage, parseMark, parseState, single, type Query } from '../params.js';
import { countJson, streamJson, toJson } from '../serialize.js';
import { StreamPageCache } from '../page-cache.js';
import { checkParameters, sendJson } from './common.js';

const FILTERS = ['older_than', 'younger_than', 'state', 'trigger_name', 'name', 'distinguishing_traits', 'q.field', 'q.op', 'q.type', 'q.value', 'mark', 'limit'];

function streamQuery(q: Query): StreamQuery {
  return {
    olderThan: optionalDateTime(q, 'older_than'),
    youngerThan: optionalDateTime(q, 'younger_than'),
    state: parseState(q),
    triggerName: single(q, 'trigger_name') || single(q, 'name') || undefined,
    traits: parseTraitFilters(q, 'distinguishing_traits'),
  };
}

export function registerStreamRoutes(app: FastifyInstance, ctx: ApiContext, version: 1 | 2): void {
  app.get('/streams', async (request, reply) => {
    const q = checkParameters(request, [...FILTERS, 'details']);
    const query = streamQuery(q);
    const page = parsePage(q);
    const details = parseBoolean(q, 'details');
    const rows = await ctx.pageCache.rows(request.url, () => findStreamRows(ctx.pool, query, page));
    const fingerprint = StreamPageCache.fingerprint(rows);
    const cached = await ctx.pageCache.page(request.url, fingerprint, async () => {
      const streams = await withDistinguishingTraits(ctx.pool, rows);
      const events = details ? await ctx.eventCache.streamEvents(ctx.pool, streams.map((s) => s.id)) : null;
      return Buffer.from(`[${streams.map((s) => streamJson(s, page.direction, events?.get(s.id))).join(', ')}]`);
    });
    void reply.header('vary', 'accept-encoding');
    if (!acceptsGzip(request.headers['accept-encoding'])) return sendJson(reply, cached.body);
    return sendJson(reply.header('content-encoding', 'gzip'), StreamPageCache.gzipped(cached));
  });

  app.get('/streams/count', async (request, reply) => {
    const q = checkParameters(request, FILTERS);
    const query = streamQuery(q);
    parsePage(q); // validated, as on the list; the count ignores the limit
    return sendJson(reply, countJson(await countStreams(ctx.pool, query, parseMark(q))));
  });

  app.get<{ Params: { id: string } }>('/streams/:id', async (request, reply) => {
    const q = checkParameters(request, ['details']);
    const id = parseId(request.params.id, 'id');
    const details = parseBoolean(q, 'details');
    const stream = await getStream(ctx.pool, id);
    if (!stream) throw notFound(`no stream ${id}`);
    const events = details ? (await ctx.eventCache.streamEvents(ctx.pool, [id])).get(id) : undefined;
    return sendJson(reply, `[${streamJson(stream, 'desc', events)}]`);
  });

  const reset = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    const id = parseId(request.params.id, 'id');
    const stream = await getStream(ctx.pool, id);
    if (!stream) throw notFound(`no stream ${id}`);
    const state = await retryStream(ctx.pool, id);
    if (state === null) {
      const now = await getStream(ctx.pool, id);
      return sendJson(reply, toJson({ id, reset: false, state: now ? stateName(now.state) : 'deleted', message: 'only streams in error or expire_error are reset; nothing done' }));
    }
    request.log.info({ streamId: id, state }, 'stream reset');
    return sendJson(reply, toJson({ id, reset: true, state }));
  };
  const remove = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    const id = parseId(request.params.id, 'id');
    if (!(await deleteStream(ctx.pool, id))) throw notFound(`no stream ${id}`);
    request.log.info({ streamId: id }, 'stream deleted');
    return reply.code(200).send();
  };
  app.put<{ Params: { id: string } }>('/streams/:id', { preHandler: ctx.mutation }, reset);
  app.delete<{ Params: { id: string } }>('/streams/:id', { preHandler: ctx.mutation }, remove);
  app.post<{ Params: { id: string } }>('/streams/:id', { preHandler: ctx.mutation }, async (request, reply) => {
    const override = String(request.headers['x-http-method-override'] ?? '').toUpperCase();
    if (override === 'PUT') return reset(request, reply);
    if (override === 'DELETE') return remove(request, reply);
    throw new ApiError(405, 'POST /streams/{id} needs X-HTTP-Method-Override: PUT (reset) or DELETE', 'X-HTTP-Method-Override');
  });

  if (version !== 2) return;

  app.get<{ Params: { id: string } }>('/streams/:id/explain', async (request, reply) => {
    checkParameters(request, []);
    const id = parseId(request.params.id, 'id');
    const explanation = await explainStream(ctx.pool, id, {
      triggers: ctx.config.triggers,
      maxAttempts: ctx.config.winchester.raw.pipeline_max_attempts,
      replayNow: await ctx.replayNow(),
    });
    if (!explanation) throw notFound(`no stream ${id}`);
    return sendJson(reply, explanationJson(explanation));
  });

  const noArchives = async (): Promise<never> => {
    throw notFound('archives are not kept by this implementation (upstream quince had no archive store and answered 500); quarantined messages are at /v2/quarantine');
  };
  app.get('/archives', noArchives);
  app.get('/archives/:id', noArchives);
}

function explanationJson(e: StreamExplanation): string {
  return toJson({
    id: e.id,
    name: e.name,
    state: e.state,
    verdict: e.verdict,
    now: e.now,
    clock: e.clock,
    trigger_known: e.triggerKnown,
    fire_pipeline: e.firePipeline,
    expire_pipeline: e.expirePipeline,
    open: e.open,
    event_count: e.eventCount,
    first_event: e.firstEvent,
    last_event: e.lastEvent,
    fire_criteria: e.fireCriteria.map((c) => ({ event_types: c.eventTypes, needed: c.needed, count: c.count, met: c.met })),
    fire_timestamp: e.fireTimestamp,
    fire_in_seconds: e.fireInSeconds,
    expire_timestamp: e.expireTimestamp,
    expire_in_seconds: e.expireInSeconds,
    lease_owner: e.leaseOwner,
    lease_expires: e.leaseExpires,
    lease_expires_in_seconds: e.leaseExpiresInSeconds,
    attempts: e.attempts,
    max_attempts: e.maxAttempts,
    last_error: e.lastError,
    retry_after: e.retryAfter,
  });
}

/** Whether an Accept-Encoding header allows gzip (RFC 9110 §12.5.3: `gzip;q=0` refuses it, `*` allows it). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  let star: boolean | undefined;
  for (const item of String(header ?? '').split(',')) {
    const [coding, ...params] = item.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    const allowed = q === undefined || Number(q) > 0;
    if (coding === 'gzip' || coding === 'x-gzip') return allowed;
    if (coding === '*') star = allowed;
  }
  return star ?? false;
}
