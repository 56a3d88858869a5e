// GET /v1/usage/nodes and GET /v1/usage/tasks[?service=&node=]: what the tasks' containers use,
// against what they requested and what the nodes offer (`berth top`; common/usage.ts).
//
// Each server holds only the usage its own agents sent. The server asked answers for the whole
// cluster: its own part (from the main thread, usage-relay.ts) and every other live server's
// (`servers/<name>`), asked with `?local=true`, the caller's own token and the cluster CA; a
// server that does not answer in time is named in `unreachable`. `?local=true` answers this
// server's part only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { NodeUsage, TaskUsage, UsageList } from '../../../common/usage.js';
import type { ServerRecord } from '../../leader/servers.js';
import { serverKeys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';
import type { UsageRelay } from '../usage-relay.js';
import type { Logger } from 'pino';
import { errorMessage } from '../../../common/errors.js';

/** How long the other servers get to answer. */
export const PEER_TIMEOUT_MS = 2000;

export interface UsageRouteOptions {
  store: Store;
  local: Pick<UsageRelay, 'nodes' | 'tasks'>;
  /** This server's name (its registration is skipped when asking the others). */
  serverName: string;
  /** The cluster CA (PEM), to check the other servers' API certificates. */
  caPem?: string;
  logger: Logger;
}

const resources = { type: 'object', properties: { cpu: { type: 'number' }, memory: { type: 'number' } } } as const;
const common = {
  nodeId: { type: 'string' },
  node: { type: 'string' },
  cpu: { type: 'number' },
  memory: { type: 'number' },
  requested: resources,
  sampledAt: { type: 'string' },
  server: { type: 'string' },
} as const;
const nodeUsage = { type: 'object', properties: { ...common, allocatable: resources, tasks: { type: 'number' } } } as const;
const taskUsage = { type: 'object', properties: { ...common, taskId: { type: 'string' }, task: { type: 'string' }, service: { type: 'string' } } } as const;
const listOf = (item: object) => ({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: item }, unreachable: { type: 'array', items: { type: 'string' } } } });
const errors = { 401: errorBodySchema, 403: errorBodySchema };

type Query = { service?: string; node?: string; local?: boolean };

export function usageRoutes(app: FastifyInstance, opts: UsageRouteOptions): void {
  const peers = new PeerFetch(opts);
  app.get<{ Querystring: Query }>(
    '/v1/usage/nodes',
    {
      config: { permission: 'usage:read' },
      schema: {
        summary: 'CPU and memory used on each node, against requested and allocatable',
        tags: ['usage'],
        querystring: { type: 'object', properties: { local: { type: 'boolean' } } },
        response: { 200: listOf(nodeUsage), ...errors },
      },
    },
    async (req) => {
      const own = await opts.local.nodes();
      if (req.query.local) return { items: own };
      return merge(own, await peers.gather<NodeUsage>(req, '/v1/usage/nodes?local=true'), (a, b) => a.node.localeCompare(b.node));
    },
  );
  app.get<{ Querystring: Query }>(
    '/v1/usage/tasks',
    {
      config: { permission: 'usage:read' },
      schema: {
        summary: 'CPU and memory used by each running task, against what its service requests',
        tags: ['usage'],
        querystring: { type: 'object', properties: { service: { type: 'string' }, node: { type: 'string' }, local: { type: 'boolean' } } },
        response: { 200: listOf(taskUsage), ...errors },
      },
    },
    async (req) => {
      const { service, node } = req.query;
      const filter = { ...(service !== undefined ? { service } : {}), ...(node !== undefined ? { node } : {}) };
      const own = await opts.local.tasks(filter);
      if (req.query.local) return { items: own };
      const qs = new URLSearchParams({ ...filter, local: 'true' });
      return merge(own, await peers.gather<TaskUsage>(req, `/v1/usage/tasks?${qs.toString()}`), (a, b) => a.service.localeCompare(b.service) || a.task.localeCompare(b.task));
    },
  );
}

/**
 * Every server's items, one entry per node or task: a node whose agent moved between servers may
 * be in two answers for a moment; the newer sample wins.
 */
function merge<T extends NodeUsage | TaskUsage>(own: T[], others: { items: T[]; unreachable: string[] }, order: (a: T, b: T) => number): UsageList<T> {
  const byKey = new Map<string, T>();
  for (const item of [...own, ...others.items]) {
    const key = 'taskId' in item ? item.taskId : item.nodeId;
    const seen = byKey.get(key);
    if (!seen || seen.sampledAt < item.sampledAt) byKey.set(key, item);
  }
  return { items: [...byKey.values()].sort(order), unreachable: others.unreachable.sort() };
}

/** Asks the other live servers for their part, with the caller's token. */
class PeerFetch {
  private undici: Promise<typeof import('undici')> | undefined;
  private dispatcher: import('undici').Agent | undefined;

  constructor(private readonly opts: UsageRouteOptions) {}

  async gather<T>(req: FastifyRequest, path: string): Promise<{ items: T[]; unreachable: string[] }> {
    const { items: servers } = await this.opts.store.list<ServerRecord>(serverKeys.servers);
    const others = servers.filter((s) => s.name !== this.opts.serverName && s.apiUrl);
    if (others.length === 0) return { items: [], unreachable: [] };
    const auth = req.headers.authorization;
    const answers = await Promise.all(others.map((s) => this.ask<T>(s, path, auth)));
    const items: T[] = [];
    const unreachable: string[] = [];
    answers.forEach((a, i) => (a ? items.push(...a) : unreachable.push(others[i]!.name)));
    return { items, unreachable };
  }

  private async ask<T>(server: ServerRecord, path: string, auth: string | undefined): Promise<T[] | undefined> {
    try {
      const u = await (this.undici ??= import('undici'));
      this.dispatcher ??= new u.Agent({ connect: this.opts.caPem ? { ca: this.opts.caPem } : {} });
      const res = await u.fetch(new URL(path, server.apiUrl), {
        headers: auth ? { authorization: auth } : {},
        dispatcher: this.dispatcher,
        signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
      });
      if (!res.ok) {
        this.opts.logger.warn({ server: server.name, status: res.status }, 'another server refused its usage');
        await res.body?.cancel();
        return undefined;
      }
      return ((await res.json()) as { items: T[] }).items;
    } catch (err) {
      this.opts.logger.warn({ server: server.name, err: errorMessage(err) }, 'another server did not send its usage');
      return undefined;
    }
  }
}
