/**
 * Who may change things. Reads are open, as upstream's were. The mutating routes (stream reset
 * and delete, quarantine replay and delete) need `Authorization: Bearer <token>` when a token
 * is configured (401 otherwise), and are refused (403) on a node with api_read_only. A node
 * listening beyond loopback must have one or the other: main.ts refuses to start otherwise.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

export interface AuthSettings {
  readonly token: string | null;
  readonly readOnly: boolean;
}

/** A fastify preHandler for mutating routes. */
export function requireMutationRights(settings: AuthSettings): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const expected = settings.token === null ? null : Buffer.from(settings.token, 'utf8');
  return async (request, reply) => {
    if (settings.readOnly) throw new ApiError(403, 'this API node is read-only (api_read_only in winchester.yaml); use a node that allows changes');
    if (expected === null) return;
    const header = request.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = m ? Buffer.from(m[1]!, 'utf8') : null;
    if (given === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      void reply.header('www-authenticate', 'Bearer realm="stv3"');
      throw new ApiError(401, given === null ? 'this route changes data: send Authorization: Bearer <api_token>' : 'the bearer token is not the API token');
    }
  };
}

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}
