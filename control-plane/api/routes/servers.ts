// GET /v1/servers and GET /v1/servers/:name: the control-plane servers sharing this etcd, which
// one leads, where each serves (leader/servers.ts writes the registrations).
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../../common/errors.js';
import { serverViews } from '../../leader/servers.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';

const serverSchema = {
  type: 'object',
  required: ['name', 'apiUrl', 'agentAddress', 'serverVersion', 'startedAt', 'leader'],
  properties: {
    name: { type: 'string' },
    apiUrl: { type: 'string' },
    agentAddress: { type: 'string' },
    serverVersion: { type: 'string' },
    startedAt: { type: 'string' },
    leader: { type: 'boolean' },
    leaderSince: { type: 'string' },
    etcd: { type: 'string', enum: ['healthy', 'unhealthy'] },
    etcdProblems: { type: 'array', items: { type: 'string' } },
  },
} as const;
const errors = { 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };

export function serverRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/v1/servers',
    {
      config: { permission: 'servers:read' },
      schema: {
        summary: 'List the control-plane servers and which one leads',
        tags: ['servers'],
        response: { 200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: serverSchema } } }, ...errors },
      },
    },
    async () => ({ items: await serverViews(store) }),
  );
  app.get<{ Params: { name: string } }>(
    '/v1/servers/:name',
    {
      config: { permission: 'servers:read' },
      schema: {
        summary: 'Show one control-plane server',
        tags: ['servers'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        response: { 200: serverSchema, ...errors },
      },
    },
    async (req) => {
      const found = (await serverViews(store)).find((s) => s.name === req.params.name);
      if (!found) throw new NotFoundError('server', req.params.name);
      return found;
    },
  );
}
