// /v1/volumes: the named volumes of every node, as their agents report them (node.volumes), and
// their removal. A removal is a request the node's agent picks up on its next volume sync
// (`volumeremovals/<node-id>/<name>`); the call waits for its outcome.
import type { FastifyInstance } from 'fastify';
import { ConflictError, NotFoundError } from '../../../common/errors.js';
import { isTerminal, type Node, type Task } from '../../../common/types.js';
import { namedVolumes } from '../../../common/workloads.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';

export const volumeKeys = {
  removals: 'volumeremovals/',
  removalsOf: (nodeId: string) => `volumeremovals/${nodeId}/`,
  removal: (nodeId: string, name: string) => `volumeremovals/${nodeId}/${name}`,
} as const;

export interface VolumeRemoval {
  requestedAt: string;
  /** Set by the dispatcher when the node could not remove it. */
  error?: string;
}

const volumeRow = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    node: { type: 'string' },
    nodeId: { type: 'string' },
    service: { type: 'string' },
    createdAt: { type: 'string' },
    inUse: { type: 'boolean' },
  },
} as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema, 504: errorBodySchema };
/** How long a removal waits for the node to answer. */
const REMOVAL_WAIT_MS = 30_000;

export function volumeRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/v1/volumes',
    {
      config: { permission: 'nodes:read' },
      schema: { summary: 'Named volumes on every node, as their agents report them', tags: ['volumes'], response: { 200: { type: 'object', properties: { items: { type: 'array', items: volumeRow } } }, ...errors } },
    },
    async () => {
      const { items } = await store.list<Node>(keys.nodes);
      return { items: items.flatMap((n) => (n.volumes ?? []).map((v) => ({ ...v, node: n.name, nodeId: n.id }))) };
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { node?: string } }>(
    '/v1/volumes/:name',
    {
      config: { permission: 'nodes:write' },
      schema: {
        summary: 'Remove a named volume from its node (refused while a task uses it); waits for the node',
        tags: ['volumes'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        querystring: { type: 'object', properties: { node: { type: 'string' } } },
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, node: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      const node = await volumeNode(store, name, req.query.node);
      const users = (await store.list<Task>(keys.tasks)).items.filter(
        (t) => t.nodeId === node.id && t.desiredState === 'running' && !isTerminal(t.status.state) && namedVolumes(t.spec.volumes).includes(name),
      );
      if (users.length) throw new ConflictError(volumeKeys.removal(node.id, name), `volume "${name}" on node ${node.name} is in use by task ${users.map((t) => t.name).join(', ')}`);
      if (node.volumes?.find((v) => v.name === name)?.inUse) throw new ConflictError(volumeKeys.removal(node.id, name), `volume "${name}" on node ${node.name} is in use by a container`);
      const key = volumeKeys.removal(node.id, name);
      await store.put(key, { requestedAt: new Date().toISOString() } satisfies VolumeRemoval);
      const deadline = Date.now() + REMOVAL_WAIT_MS;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        const r = await store.get<VolumeRemoval>(key);
        if (r?.error) {
          await store.delete(key);
          throw new ConflictError(key, `node ${node.name} could not remove volume "${name}": ${r.error}`);
        }
        if (!r) return { name, node: node.name, removed: true };
      }
      await store.delete(key);
      return reply.code(504).send({ error: 'Timeout', message: `node ${node.name} did not answer within ${REMOVAL_WAIT_MS / 1000}s (is its agent connected?): the request was withdrawn; check berth volume ls and retry` });
    },
  );
}

/** The node holding volume `name`: the one named by `ref`, or the only one that has it. */
async function volumeNode(store: Store, name: string, ref: string | undefined): Promise<Node> {
  const { items } = await store.list<Node>(keys.nodes);
  const holders = items.filter((n) => (n.volumes ?? []).some((v) => v.name === name));
  if (ref !== undefined) {
    const node = items.find((n) => n.name === ref) ?? items.find((n) => n.id === ref);
    if (!node) throw new NotFoundError('node', ref);
    if (!holders.includes(node)) throw new NotFoundError('volume', `${name}" on node "${node.name}`);
    return node;
  }
  if (holders.length === 0) throw new NotFoundError('volume', name);
  if (holders.length > 1) throw new ConflictError(`volumes/${name}`, `volume "${name}" exists on nodes ${holders.map((n) => n.name).join(', ')}: say which with --node`);
  return holders[0]!;
}
