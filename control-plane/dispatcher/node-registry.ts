// Nodes as the dispatcher sees them: an informer on `nodes/`, registration (the same name always
// gets the same id) and node state transitions, all as conditional writes.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ConflictError } from '../../common/errors.js';
import { isDeepStrictEqual } from 'node:util';
import { NodeAvailability, NodeState, type Node, type NodeResources, type NodeVolume } from '../../common/types.js';
import type { Informer } from '../store/informer.js';
import { informerFor } from '../store/shared-informers.js';
import { keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import type { NodeSubnets } from './node-network.js';

export interface Registration {
  name: string;
  labels: Record<string, string>;
  capacity: NodeResources;
  runtime: string;
  /** The agent's Berth version, as it announced it. */
  agentVersion?: string;
  address?: string;
}

const MAX_ATTEMPTS = 5;

export class NodeRegistry {
  private readonly informer: Informer<Node>;
  private readonly release: () => Promise<void>;
  /** Ids created by this process that the watch may not have delivered yet. */
  private readonly createdIds = new Map<string, string>();
  /** Registrations of one name run one at a time, so a name never gets two ids. */
  private readonly nameLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** The process's node informer to read; without it, the registry watches on its own. */
    shared?: Informer<Node>,
    /** The cluster's node subnets, when it has them: a new docker node is given a block. */
    private readonly subnets?: NodeSubnets,
  ) {
    ({ informer: this.informer, release: this.release } = informerFor<Node>(shared, { store, prefix: keys.nodes, logger: log }));
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
  }

  async stop(): Promise<void> {
    await this.release();
  }

  get(nodeId: string): Node | undefined {
    return this.informer.cache.get(keys.node(nodeId));
  }

  all(): Node[] {
    return this.informer.values();
  }

  /** Calls `handler` on every change of a node (after the cache has it); returns the unsubscribe. */
  subscribe(handler: (prev: Node | undefined, next: Node | undefined) => void): () => void {
    return this.informer.subscribe((ev) => handler(ev.previous, ev.type === 'put' ? ev.value : undefined));
  }

  /** Creates the node, or updates the node of the same name; either way it is `ready`. */
  register(reg: Registration): Promise<Node> {
    const previous = this.nameLocks.get(reg.name) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.registerNow(reg));
    this.nameLocks.set(reg.name, run);
    void run.finally(() => {
      if (this.nameLocks.get(reg.name) === run) this.nameLocks.delete(reg.name);
    }).catch(() => undefined);
    return run;
  }

  /**
   * Moves a node to `state` if it is not there already. Returns true when this call made the
   * transition (so a caller reacts to it exactly once).
   */
  async setState(nodeId: string, state: NodeState, message?: string, fromStore = false): Promise<boolean> {
    // fromStore: read the node from etcd, not the cache (which may not have seen a write just made).
    let current = fromStore ? await this.store.get<Node>(keys.node(nodeId)) : this.get(nodeId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (!current || current.status.state === state) return false;
      const { version, ...rest } = current;
      const next: Node = { ...rest, status: { ...current.status, state, timestamp: new Date().toISOString(), ...(message ? { message } : {}) } };
      if (!message) delete next.status.message;
      try {
        await this.store.put(keys.node(nodeId), next, version);
        return true;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        current = await this.store.get<Node>(keys.node(nodeId));
      }
    }
    throw new ConflictError(keys.node(nodeId));
  }

  /** Writes the node's named volumes as its agent reports them, when they changed. */
  async setVolumes(nodeId: string, volumes: NodeVolume[]): Promise<void> {
    let current = this.get(nodeId) ?? (await this.store.get<Node>(keys.node(nodeId)));
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (!current || isDeepStrictEqual(current.volumes ?? [], volumes)) return;
      const { version, ...rest } = current;
      try {
        await this.store.put(keys.node(nodeId), { ...rest, volumes }, version);
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        current = await this.store.get<Node>(keys.node(nodeId));
      }
    }
    throw new ConflictError(keys.node(nodeId));
  }

  private async registerNow(reg: Registration): Promise<Node> {
    const id = this.idOfName(reg.name);
    const tried = new Set<string>();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const now = new Date().toISOString();
      const existing = id ? await this.store.get<Node>(keys.node(id)) : undefined;
      // A node keeps its subnet; a new one claims the first free block with its own write.
      const claim = !existing?.subnet && this.subnets?.wants(reg.runtime) ? this.subnets.pick(this.informer.cache.values(), tried) : undefined;
      if (!existing?.subnet && this.subnets?.wants(reg.runtime) && !claim) this.log.warn({ nodeName: reg.name }, 'no free node subnet: the node runs its tasks without the cluster network');
      const subnet = existing?.subnet ?? claim;
      const node: Node = {
        id: existing?.id ?? id ?? newNodeId(),
        name: reg.name,
        labels: reg.labels,
        availability: existing?.availability ?? NodeAvailability.Active,
        status: { state: NodeState.Ready, timestamp: now, ...(reg.address ? { address: reg.address } : {}) },
        capacity: reg.capacity,
        allocatable: reg.capacity,
        runtime: reg.runtime,
        ...(reg.agentVersion ? { agentVersion: reg.agentVersion } : {}),
        ...(subnet ? { subnet } : {}),
        createdAt: existing?.createdAt ?? now,
        ...(existing?.volumes ? { volumes: existing.volumes } : {}),
      };
      try {
        const write: WriteOp = existing
          ? { type: 'put', key: keys.node(node.id), value: node, version: existing.version! }
          : { type: 'create', key: keys.node(node.id), value: node };
        const revision = await this.store.txn(claim ? [{ type: 'create', key: keys.subnet(claim), value: { nodeId: node.id } }, write] : [write]);
        if (!existing) this.createdIds.set(reg.name, node.id);
        this.log.info({ nodeId: node.id, nodeName: node.name, created: !existing }, 'node registered');
        return { ...node, version: revision };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        if (claim) tried.add(claim);
      }
    }
    throw new ConflictError(keys.node(id ?? reg.name));
  }

  private idOfName(name: string): string | undefined {
    for (const node of this.informer.cache.values()) if (node.name === name) return node.id;
    return this.createdIds.get(name);
  }
}

function newNodeId(): string {
  return randomBytes(8).toString('hex');
}
