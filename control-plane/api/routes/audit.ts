// GET /v1/audit: the audit log (control-plane/audit/), oldest first. Readable by operators and
// admins (permission audit:read); `fromVersion` continues after an earlier answer's `version`.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuditReader } from '../../audit/reader.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    time: { type: 'string' },
    token: { type: 'string' },
    role: { type: 'string' },
    source: { type: 'string' },
    verb: { type: 'string' },
    objects: { type: 'array', items: { type: 'string' } },
    status: { type: 'integer' },
    refused: { type: 'boolean' },
    changed: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    dryRun: { type: 'boolean' },
    version: { type: 'integer' },
  },
} as const;

export function auditRoutes(app: FastifyInstance, store: Store, logger: Logger): void {
  const reader = new AuditReader(store, logger);
  app.addHook('onClose', () => reader.stop());
  app.get<{ Querystring: { fromVersion?: number; limit?: number } }>(
    '/v1/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        summary: 'Audit log of mutating calls, oldest first; fromVersion=N: only entries stored after the answer whose version was N',
        tags: ['audit'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { fromVersion: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1 } },
        },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: entrySchema }, version: { type: 'integer' } } },
          400: errorBodySchema,
          401: errorBodySchema,
          403: errorBodySchema,
        },
      },
    },
    async (req) => reader.list(req.query),
  );
}
