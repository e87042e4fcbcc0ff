/**
 * Errors the API answers with. Every answer that is not a success is JSON:
 * `{"statusCode": 400, "error": "Bad Request", "message": "limit: must be …", "parameter": "limit"}`
 * (fastify's shape plus the parameter to fix). Anything unexpected is a 500 whose message
 * says only that; the details go to the log under `err`.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { QueryRefusedError } from '../shared/store/query-terms.js';
import { toError } from '../shared/errors.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly parameter?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function notFound(message: string): ApiError {
  return new ApiError(404, message);
}

export function errorBody(statusCode: number, message: string, parameter?: string): string {
  return JSON.stringify({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(parameter ? { parameter } : {}) });
}

/** Installs the JSON error and not-found handlers; `onServerError` counts 5xx for /metrics. */
export function installErrorHandlers(app: FastifyInstance, onServerError: () => void): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    let status: number;
    let message: string;
    let parameter: string | undefined;
    if (error instanceof ApiError) {
      ({ statusCode: status, message, parameter } = error);
    } else if (error instanceof QueryRefusedError) {
      status = 400;
      message = `${error.parameter}: ${error.message}`;
      parameter = error.parameter;
    } else if ('statusCode' in error && typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      // fastify's own: bad JSON body, unsupported media type, body too large, …
      status = error.statusCode;
      message = error.message;
    } else {
      status = 500;
      message = 'internal error; see the API log';
      onServerError();
      request.log.error({ err: toError(error), url: request.url }, 'request failed');
    }
    void reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, message, parameter));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('application/json; charset=utf-8').send(errorBody(404, `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
