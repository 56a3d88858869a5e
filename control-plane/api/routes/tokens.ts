// /v1/tokens: API tokens with roles (control-plane/auth/api-tokens.ts). The token itself is in
// the answer to its creation only; lists show names, roles and times.
import type { FastifyInstance } from 'fastify';
import { ROLES, TOKEN_NAME_PATTERN, type Role } from '../../../common/access.js';
import type { ApiTokens } from '../../auth/api-tokens.js';
import { errorBodySchema } from '../errors.js';

const tokenInfo = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    createdAt: { type: 'string' },
    expiresAt: { type: 'string' },
    lastUsedAt: { type: 'string' },
    builtin: { type: 'boolean' },
  },
} as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
/** At most ten years. */
const MAX_TTL_SECONDS = 10 * 365 * 86400;

export function tokenRoutes(app: FastifyInstance, tokens: ApiTokens): void {
  app.get(
    '/v1/tokens',
    {
      config: { permission: 'tokens:read' },
      schema: { summary: 'List API tokens (never the tokens themselves)', tags: ['tokens'], response: { 200: { type: 'object', properties: { items: { type: 'array', items: tokenInfo } } }, ...errors } },
    },
    async () => ({ items: await tokens.list() }),
  );

  app.post<{ Body: { name: string; role: Role; ttlSeconds?: number } }>(
    '/v1/tokens',
    {
      config: { permission: 'tokens:write' },
      schema: {
        summary: 'Create an API token with a role; the answer is the only place the token is ever shown',
        tags: ['tokens'],
        body: {
          type: 'object',
          required: ['name', 'role'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', pattern: TOKEN_NAME_PATTERN },
            role: { type: 'string', enum: ROLES },
            ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_TTL_SECONDS },
          },
        },
        response: { 200: { type: 'object', properties: { ...tokenInfo.properties, token: { type: 'string' } } }, ...errors },
      },
    },
    async (req) => tokens.create(req.body.name, req.body.role, req.body.ttlSeconds),
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/tokens/:name',
    {
      config: { permission: 'tokens:write' },
      schema: {
        summary: 'Revoke an API token: calls with it are refused (401) from now on',
        tags: ['tokens'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, revoked: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req) => {
      await tokens.revoke(req.params.name);
      return { name: req.params.name, revoked: true };
    },
  );
}
