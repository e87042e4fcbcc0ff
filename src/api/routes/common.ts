/** What every route does with its request and reply. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import type { Query } from '../params.js';

/**
 * The query parameters, refusing unknown ones (a misspelled `detail=true` would otherwise be
 * ignored silently, as upstream's documentation led people to). `_` (cache busting) is allowed.
 */
export function checkParameters(request: FastifyRequest, allowed: readonly string[]): Query {
  const q = request.query as Query;
  for (const name of Object.keys(q)) {
    if (name !== '_' && !allowed.includes(name)) {
      throw new ApiError(400, `${name}: unknown parameter; this route takes ${allowed.length > 0 ? allowed.join(', ') : 'none'}`, name);
    }
  }
  return q;
}

/** Sends prepared JSON (text, or its UTF-8 bytes). */
export function sendJson(reply: FastifyReply, json: string | Buffer, status = 200): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(json);
}
