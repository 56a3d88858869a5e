// /v1/nodes/:ref/availability and DELETE /v1/nodes/:ref: the operator's say over nodes. Setting
// availability only writes the node (the scheduler stops placing on a paused or draining node,
// the orchestrator moves tasks off a draining one); removing is for nodes that are down, whose
// agent is gone for good: it revokes the node's certificates in the same transaction. Their
// ended tasks stay until the orchestrator forgets them.
import type { FastifyInstance } from 'fastify';
import { ConflictError } from '../../../common/errors.js';
import { NodeAvailability, NodeState, type Node, type Task } from '../../../common/types.js';
import { revokeOp } from '../../pki/revocations.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';
import { nodeView } from '../views.js';
import { findNode } from './tasks-nodes.js';

const refParams = { type: 'object', required: ['ref'], properties: { ref: { type: 'string' } } } as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const AVAILABILITIES = Object.values(NodeAvailability);
/** A node write races the dispatcher's state transitions: re-read and retry a few times. */
const MAX_ATTEMPTS = 5;

export function nodeAdminRoutes(app: FastifyInstance, store: Store): void {
  app.post<{ Params: { ref: string }; Body: { availability: NodeAvailability } }>(
    '/v1/nodes/:ref/availability',
    {
      config: { permission: 'nodes:write' },
      schema: {
        summary: 'Set a node availability: active, pause (no new tasks) or drain (move its tasks away)',
        tags: ['nodes'],
        params: refParams,
        body: {
          type: 'object',
          required: ['availability'],
          additionalProperties: false,
          properties: { availability: { type: 'string', enum: AVAILABILITIES } },
        },
        response: { 200: anyObject, ...errors },
      },
    },
    async (req) => {
      const node = await setAvailability(store, req.params.ref, req.body.availability);
      const tasks = await store.list<Task>(keys.tasks);
      return nodeView(node, tasks.items);
    },
  );

  app.delete<{ Params: { ref: string } }>(
    '/v1/nodes/:ref',
    {
      config: { permission: 'nodes:write' },
      schema: {
        summary: 'Remove a node that is down and revoke its certificates (its ended tasks stay until cleaned up)',
        tags: ['nodes'],
        params: refParams,
        response: { 200: anyObject, ...errors },
      },
    },
    async (req) => {
      const node = await findNode(store, req.params.ref);
      if (node.status.state !== NodeState.Down) {
        throw new ConflictError(
          keys.node(node.id),
          `node "${node.name}" is ${node.status.state}: only a node that is down can be removed (stop its agent first, or drain it to move its tasks)`,
        );
      }
      // Conditional: a node that came back meanwhile is not removed. Its certificates stop working;
      // its subnet block (cluster network) is free for the next node in the same transaction.
      const freeSubnet = node.subnet ? [{ type: 'delete' as const, key: keys.subnet(node.subnet) }] : [];
      await store.txn([{ type: 'delete', key: keys.node(node.id), version: node.version }, revokeOp(node), ...freeSubnet]);
      return { removed: node.name, id: node.id };
    },
  );
}

async function setAvailability(store: Store, ref: string, availability: NodeAvailability): Promise<Node> {
  for (let attempt = 1; ; attempt++) {
    const node = await findNode(store, ref);
    if (node.availability === availability) return node;
    const { version, ...rest } = node;
    try {
      const revision = await store.put(keys.node(node.id), { ...rest, availability }, version);
      return { ...rest, availability, version: revision };
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}
