// GET /v1/servers and GET /v1/servers/:name: the control-plane servers sharing this etcd, which
// one leads, where each serves (leader/servers.ts writes the registrations). With embedded etcds:
// POST /v1/servers/leave (the server answering removes its etcd member and stops) and
// DELETE /v1/servers/:name (a stopped server's member and registration removed), both admin.
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../../common/errors.js';
import { checkLeave, MembershipConflict, removeServer } from '../../leader/membership.js';
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
const changeErrors = { ...errors, 409: errorBodySchema };

/** This server, for leave and rm. */
export interface ThisServer {
  name: string;
  /** Whether it runs an embedded etcd member (servers on an external etcd have none to remove). */
  embeddedEtcd: boolean;
  /** Stops this server, removing its etcd member as it does. */
  leave(): void;
}

const EXTERNAL = 'servers on an external etcd (--etcd) have no etcd member of their own: stop the server, and it leaves "berth get servers" within its lease';

export function serverRoutes(app: FastifyInstance, store: Store, self?: ThisServer): void {
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
  if (!self) return;
  app.post(
    '/v1/servers/leave',
    {
      config: { permission: 'servers:write' },
      schema: {
        summary: 'The server answering leaves the cluster: it removes its etcd member and stops',
        tags: ['servers'],
        response: { 202: { type: 'object', required: ['name', 'message'], properties: { name: { type: 'string' }, message: { type: 'string' } } }, ...changeErrors },
      },
    },
    async (_req, reply) => {
      if (!self.embeddedEtcd) throw new MembershipConflict(EXTERNAL);
      await checkLeave(store, self.name);
      // Answered first: the server stops its API on the way out.
      setTimeout(() => self.leave(), 100);
      return reply.code(202).send({ name: self.name, message: `server ${self.name} is leaving: it stops, then its etcd member is removed` });
    },
  );
  app.delete<{ Params: { name: string } }>(
    '/v1/servers/:name',
    {
      config: { permission: 'servers:write' },
      schema: {
        summary: "Remove a stopped server: its etcd member and its registration",
        tags: ['servers'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        response: { 200: { type: 'object', required: ['removed', 'memberId'], properties: { removed: { type: 'string' }, memberId: { type: 'string' } } }, ...changeErrors },
      },
    },
    async (req) => {
      if (!self.embeddedEtcd) throw new MembershipConflict(EXTERNAL);
      if (req.params.name === self.name) throw new MembershipConflict(`server "${self.name}" is the one answering: run "berth server leave" against it instead`);
      const removed = await removeServer(store, req.params.name);
      return { removed: removed.name, memberId: removed.memberId };
    },
  );
}
