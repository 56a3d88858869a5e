// GET /v1/whoami: the caller's token name, role and the permissions the role holds, so a client
// (the dashboard) shows only the actions the token may take. Never the token itself.
import type { FastifyInstance } from 'fastify';
import { ALL_PERMISSIONS, can } from '../../auth/permissions.js';
import { errorBodySchema } from '../errors.js';

export function whoamiRoutes(app: FastifyInstance): void {
  app.get(
    '/v1/whoami',
    {
      config: { permission: 'meta:read' },
      schema: {
        summary: "The caller's token name, role and permissions",
        tags: ['meta'],
        response: {
          200: {
            type: 'object',
            properties: { token: { type: 'string' }, role: { type: 'string' }, permissions: { type: 'array', items: { type: 'string' } } },
          },
          401: errorBodySchema,
        },
      },
    },
    (req) => {
      const caller = req.caller!;
      return Promise.resolve({ token: caller.token, role: caller.role, permissions: ALL_PERMISSIONS.filter((p) => can(caller.role, p)) });
    },
  );
}
