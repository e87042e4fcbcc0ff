/**
 * Event routes (spec §7.2), under /v1 and /v2:
 *   GET /events                from_datetime (exclusive), to_datetime (inclusive), event_name,
 *                              traits (name:value;…), q.* (typed), mark, limit
 *   GET /events/count          the same filters → [{"count": N}]
 *   GET /events/{message_id}   one event object (exact message_id; 404 when unknown)
 * A trait that is not in indexed_traits is matched by reading the time range's events, so a
 * query on such traits alone needs both datetimes (find-events.ts; 400 otherwise).
 */
import type { FastifyInstance } from 'fastify';
import { countEvents, findEvents, getEventByMessageId, type EventQuery } from '../../shared/store/find-events.js';
import { markOf } from '../../shared/store/query-terms.js';
import type { ApiContext } from '../app.js';
import { notFound } from '../errors.js';
import { optionalDateTime, parseTraitFilters, parseMark, parsePage, single, type Query } from '../params.js';
import { countJson, eventJson } from '../serialize.js';
import { checkParameters, sendJson } from './common.js';

const FILTERS = ['from_datetime', 'to_datetime', 'event_name', 'traits', 'q.field', 'q.op', 'q.type', 'q.value', 'mark', 'limit'];

function eventQuery(q: Query): EventQuery {
  const eventName = single(q, 'event_name');
  return {
    from: optionalDateTime(q, 'from_datetime'),
    to: optionalDateTime(q, 'to_datetime'),
    eventName: eventName === '' ? undefined : eventName,
    traits: parseTraitFilters(q, 'traits'),
  };
}

export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/events', async (request, reply) => {
    const q = checkParameters(request, FILTERS);
    const query = eventQuery(q);
    const page = parsePage(q);
    const events = await findEvents(ctx.pool, query, page, ctx.limits);
    return sendJson(reply, `[${events.map((e) => eventJson(e, markOf(e.id, page.direction))).join(', ')}]`);
  });

  app.get('/events/count', async (request, reply) => {
    const q = checkParameters(request, FILTERS);
    const query = eventQuery(q);
    parsePage(q);
    return sendJson(reply, countJson(await countEvents(ctx.pool, query, parseMark(q), ctx.limits)));
  });

  app.get<{ Params: { message_id: string } }>('/events/:message_id', async (request, reply) => {
    checkParameters(request, []);
    const event = await getEventByMessageId(ctx.pool, request.params.message_id);
    if (!event) throw notFound(`no event with message_id ${JSON.stringify(request.params.message_id)}`);
    return sendJson(reply, eventJson(event));
  });
}
