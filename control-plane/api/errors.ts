// Maps errors to HTTP responses: one JSON shape `{ error, message, issues? }` for every failure.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { BerthError, ConflictError, NotFoundError, StoreUnavailableError, ValidationError, type FieldIssue } from '../../common/errors.js';
import { pointerToPath } from '../../common/manifest/validate.js';
import { loggableUrl } from './access.js';

export interface ErrorBody {
  error: string;
  message: string;
  issues?: FieldIssue[];
}

export class BadRequestError extends BerthError {
  override readonly code: string = 'BAD_REQUEST';
}

export const errorBodySchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    issues: {
      type: 'array',
      items: {
        type: 'object',
        properties: { index: { type: 'integer' }, path: { type: 'string' }, reason: { type: 'string' } },
      },
    },
  },
} as const;

export function makeErrorHandler(log: Logger) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void => {
    const [status, body] = toResponse(err);
    if (err instanceof StoreUnavailableError) {
      // etcd not answering: the client is told to retry (one warning per refused call, no stack).
      log.warn({ err: err.message, detail: err.detail, method: req.method, url: loggableUrl(req.url) }, 'request refused: the store is unavailable');
      void reply.header('retry-after', '1');
    } else if (status >= 500) log.error({ err, url: loggableUrl(req.url) }, 'request failed');
    void reply.code(status).send(body);
  };
}

function toResponse(err: FastifyError | Error): [number, ErrorBody] {
  if (err instanceof ValidationError) return [400, { error: 'ValidationError', message: err.message, issues: err.issues }];
  if (err instanceof ConflictError) return [409, { error: 'Conflict', message: err.message }];
  if (err instanceof NotFoundError) return [404, { error: 'NotFound', message: err.message }];
  if (err instanceof BadRequestError) return [400, { error: 'BadRequest', message: err.message }];
  if (err instanceof StoreUnavailableError) return [503, { error: 'ServiceUnavailable', message: err.message }];
  const fe = err as FastifyError;
  if (fe.validation) {
    const issues = fe.validation.map((v) => ({
      path: [fe.validationContext, pointerToPath(v.instancePath)].filter(Boolean).join('.'),
      reason: v.message ?? 'invalid',
    }));
    return [400, { error: 'ValidationError', message: issues.map((i) => `${i.path}: ${i.reason}`).join('\n'), issues }];
  }
  if (fe.statusCode && fe.statusCode < 500) return [fe.statusCode, { error: fe.code ?? 'BadRequest', message: fe.message }];
  return [500, { error: 'Internal', message: err.message }];
}
