// /v1/networks: the networks services can be on (docs/networking.md, "Networks that isolate").
// `default` (services that name none) always exists and is not stored; the others are
// `networks/<name>`. A network a service names cannot be removed.
//
// Must not: touch any node's rules (the agents follow the services' endpoints).
import type { FastifyInstance } from 'fastify';
import { ConflictError, NotFoundError, ValidationError } from '../../../common/errors.js';
import { DEFAULT_NETWORK, networkNameRefusal, serviceNetworks } from '../../../common/networks.js';
import type { NetworkObject, Service } from '../../../common/types.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';

const networkRow = {
  type: 'object',
  properties: { name: { type: 'string' }, createdAt: { type: 'string' }, services: { type: 'array', items: { type: 'string' } }, builtIn: { type: 'boolean' } },
} as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;

/** network -> the services on it. */
function usersOf(services: readonly Service[]): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const s of services) for (const n of serviceNetworks(s.spec)) users.set(n, [...(users.get(n) ?? []), s.metadata.name]);
  return users;
}

export function networkRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/v1/networks',
    {
      config: { permission: 'services:read' },
      schema: { summary: 'Networks, with the services on each', tags: ['networks'], response: { 200: { type: 'object', properties: { items: { type: 'array', items: networkRow } } }, ...errors } },
    },
    async () => {
      const [nets, services] = await Promise.all([store.list<NetworkObject>(keys.networks), store.list<Service>(keys.services)]);
      const users = usersOf(services.items);
      const rows = [
        { name: DEFAULT_NETWORK, builtIn: true, services: users.get(DEFAULT_NETWORK) ?? [] },
        ...nets.items.sort((a, b) => a.name.localeCompare(b.name)).map((n) => ({ ...n, builtIn: false, services: users.get(n.name) ?? [] })),
      ];
      return { items: rows };
    },
  );

  app.post<{ Body: { name?: unknown } }>(
    '/v1/networks',
    {
      config: { permission: 'services:write' },
      schema: { summary: 'Create a network', tags: ['networks'], body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } }, response: { 200: networkRow, ...errors } },
    },
    async (req) => {
      const name = String(req.body.name);
      const why = networkNameRefusal(name);
      if (why) throw new ValidationError([{ path: 'name', reason: why, source: '' }]);
      const net: NetworkObject = { name, createdAt: new Date().toISOString() };
      try {
        await store.create(keys.network(name), net);
      } catch (err) {
        if (err instanceof ConflictError) throw new ConflictError(keys.network(name), `network "${name}" already exists`);
        throw err;
      }
      return { ...net, builtIn: false, services: [] };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/networks/:name',
    {
      config: { permission: 'services:write' },
      schema: { summary: 'Remove a network (refused while a service names it)', tags: ['networks'], params: nameParams, response: { 200: { type: 'object', properties: { name: { type: 'string' }, deleted: { type: 'boolean' } } }, ...errors } },
    },
    async (req) => {
      const name = req.params.name;
      if (name === DEFAULT_NETWORK) throw new ConflictError(keys.network(name), `"${DEFAULT_NETWORK}" is the network of services that name none; it cannot be removed`);
      const [net, services] = await Promise.all([store.get<NetworkObject>(keys.network(name)), store.list<Service>(keys.services)]);
      if (!net) throw new NotFoundError('network', name);
      const users = usersOf(services.items).get(name) ?? [];
      if (users.length) throw new ConflictError(keys.network(name), `network "${name}" is in use by service ${users.join(', ')}`);
      await store.delete(keys.network(name));
      return { name, deleted: true };
    },
  );
}
