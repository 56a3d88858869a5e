// Node subnets (docs/networking.md): with `--node-subnets RANGE`, every docker node gets a /24
// (by default) of RANGE for its containers, claimed in etcd (`subnets/<block>`) in the same
// transaction that writes the node, so two servers never hand out one block twice. A node keeps
// its block across registrations. The agent is sent its block and every other node's (address,
// block) as a NodeNetwork message, before its assignments and again when a peer changes.
//
// Must not: talk to agents (the dispatcher sends) or touch the nodes' network (the agent does).
import { formatCidr, nthSubnet, parseCidr, subnetCount, type Cidr } from '../../common/cidr.js';
import type { Node, NodeNetwork } from '../../common/types.js';

export const DEFAULT_NODE_SUBNET_PREFIX = 24;

export class NodeSubnets {
  readonly range: Cidr;

  constructor(
    range: string,
    readonly prefix = DEFAULT_NODE_SUBNET_PREFIX,
  ) {
    this.range = parseCidr(range, '--node-subnets');
    if (subnetCount(this.range, prefix) < 1) throw new Error(`--node-subnets ${range}: smaller than one /${prefix}`);
  }

  /** Only nodes that run containers get a block. */
  wants(runtime: string): boolean {
    return runtime === 'docker';
  }

  /** The first block no node has and not in `tried`; undefined when the range is full. */
  pick(nodes: Iterable<Node>, tried: ReadonlySet<string>): string | undefined {
    const used = new Set<string>(tried);
    for (const n of nodes) if (n.subnet) used.add(n.subnet);
    const count = subnetCount(this.range, this.prefix);
    for (let i = 0; i < count; i++) {
      const block = formatCidr(nthSubnet(this.range, this.prefix, i));
      if (!used.has(block)) return block;
    }
    return undefined;
  }

  /** What `node` is sent: its block and the route to every other node that has one. */
  networkOf(node: Node | undefined, nodes: Iterable<Node>): NodeNetwork | undefined {
    if (!node?.subnet) return undefined;
    const routes: NodeNetwork['routes'] = [];
    for (const n of nodes) {
      if (n.id === node.id || !n.subnet || !n.status.address) continue;
      routes.push({ nodeId: n.id, address: n.status.address, subnet: n.subnet });
    }
    routes.sort((a, b) => a.subnet.localeCompare(b.subnet));
    return { subnet: node.subnet, clusterRange: formatCidr(this.range), routes };
  }
}

/** Whether a change of `prev` into `next` changes what other nodes are sent. */
export function routeChanged(prev: Node | undefined, next: Node | undefined): boolean {
  return prev?.subnet !== next?.subnet || prev?.status.address !== next?.status.address;
}

/** The nodes as the dispatcher's registry has them. */
export interface NodeSource {
  all(): Node[];
  get(nodeId: string): Node | undefined;
  subscribe(handler: (prev: Node | undefined, next: Node | undefined) => void): () => void;
}

/** Keeps every connected node's NodeNetwork current: sends it again when a peer's route changes. */
export class NodeNetworkFeed {
  /** Nodes registered here that the informer may not have delivered yet. */
  private readonly fresh = new Map<string, Node>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly subnets: NodeSubnets,
    private readonly nodes: NodeSource,
    /** Node ids with a session here, and how to send one of them its network. */
    private readonly sessions: { connected(): string[]; send(nodeId: string, network: NodeNetwork): void },
    /** Changes are gathered this long before they are sent. */
    private readonly batchMs = 50,
  ) {}

  start(): void {
    this.unsubscribe ??= this.nodes.subscribe((prev, next) => {
      const id = next?.id ?? prev?.id;
      if (id && next) this.fresh.delete(id);
      if (routeChanged(prev, next)) this.schedule();
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A node was just written by a registration (it may have a new subnet or address). */
  registered(node: Node): void {
    if (!node.subnet) return;
    this.fresh.set(node.id, node);
    this.schedule();
  }

  networkOf(nodeId: string): NodeNetwork | undefined {
    const all = new Map(this.nodes.all().map((n) => [n.id, n]));
    for (const [id, n] of this.fresh) all.set(id, n);
    return this.subnets.networkOf(all.get(nodeId), all.values());
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      for (const nodeId of this.sessions.connected()) {
        const net = this.networkOf(nodeId);
        if (net) this.sessions.send(nodeId, net);
      }
    }, this.batchMs);
  }
}
