// GET /v1/endpoints[?service=NAME]: each service's virtual address and the tasks behind it (the
// ones that take new connections: wanted running, running, ready) with their cluster addresses,
// as the agents are sent them (docs/networking.md). Read-only; needs `tasks:read`.
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../../common/errors.js';
import { parseIpv4 } from '../../../common/cidr.js';
import type { Node, Task } from '../../../common/types.js';
import { isEndpoint } from '../../dispatcher/service-addresses.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import type { CachedReads } from '../cached-reads.js';
import { errorBodySchema } from '../errors.js';

export interface EndpointsView {
  service: string;
  vip: string;
  endpoints: { task: string; node: string; address: string }[];
}

const anyObject = { type: 'object', additionalProperties: true } as const;

/** service -> its VIP (the lowest address it holds), from the `vips/` records. */
async function vipsByService(store: Store): Promise<Map<string, string>> {
  const { items, keys: recordKeys } = await store.list<{ service: string }>(keys.vips);
  const best = new Map<string, [number, string]>();
  items.forEach((rec, i) => {
    const address = recordKeys[i]!.slice(keys.vips.length);
    const n = parseIpv4(address);
    const known = best.get(rec.service);
    if (n !== undefined && (!known || n < known[0])) best.set(rec.service, [n, address]);
  });
  return new Map([...best].map(([s, [, a]]) => [s, a]));
}

export function endpointsView(vips: ReadonlyMap<string, string>, tasks: readonly Task[], nodeNames: ReadonlyMap<string, string>): EndpointsView[] {
  return [...vips]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, vip]) => ({
      service,
      vip,
      endpoints: tasks
        .filter((t) => t.serviceName === service && isEndpoint(t))
        .map((t) => ({ task: t.name, node: (t.nodeId && nodeNames.get(t.nodeId)) || t.nodeId || '', address: t.status.address! }))
        .sort((x, y) => x.task.localeCompare(y.task)),
    }));
}

export function endpointRoutes(app: FastifyInstance, store: Store, reads: CachedReads): void {
  app.get<{ Querystring: { service?: string } }>(
    '/v1/endpoints',
    {
      config: { permission: 'tasks:read' },
      schema: {
        summary: "Services' virtual addresses and the ready tasks behind them, optionally of one service",
        tags: ['tasks'],
        querystring: { type: 'object', properties: { service: { type: 'string' } } },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: anyObject } } }, 401: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (req, reply) => {
      const { service } = req.query;
      let vips = await vipsByService(store);
      if (service !== undefined) {
        const vip = vips.get(service);
        if (!vip) throw new NotFoundError('endpoints of service', service);
        vips = new Map([[service, vip]]);
      }
      const cached = await reads.taskReads();
      const tasks = service !== undefined ? cached.ofService(service) : cached.all();
      const nodes = (await reads.nodeReads()) ?? (await store.list<Node>(keys.nodes)).items;
      const items = endpointsView(vips, tasks, new Map(nodes.map((n) => [n.id, n.name])));
      return reply.type('application/json; charset=utf-8').send(JSON.stringify({ items }));
    },
  );
}
