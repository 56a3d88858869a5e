// The node's side of the cluster network (docs/networking.md): a Docker bridge network `berth`
// on the subnet the control plane gave this node, a route to every other node's subnet via that
// node's address (host-gw: the nodes share an L2), and two iptables rules so that traffic
// between the cluster's subnets is neither masqueraded (a task sees its client's own address)
// nor dropped by Docker's FORWARD chain on its way in.
//
// With service addresses, it also keeps the endpoints the server sends: its resolver (dns.ts)
// answers from them at once, the VIP and ingress rules (service-rules.ts) are rewritten after each
// change, and the ingress ports with proxyProtocol are opened by the forwarder (ingress-proxy.ts).
//
// Owns: the `berth` network, the routes to cluster subnets, the rules tagged `berth-cluster`.
// Must not: know the protocol (the session hands it a NodeNetwork) or start containers.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { contains, hostOf, parseCidr, parseIpv4 } from '../../common/cidr.js';
import { errorMessage } from '../../common/errors.js';
import { DEFAULT_NETWORK } from '../../common/networks.js';
import type { NodeNetwork, ServiceEndpoints, Task } from '../../common/types.js';
import { DockerApiError, type DockerClient } from '../driver/docker-client.js';
import { Label } from '../driver/driver.js';
import { ClusterDns } from './dns.js';
import { IngressProxy } from './ingress-proxy.js';
import { applyIsolationRules } from './isolation-rules.js';
import { applyServiceRules } from './service-rules.js';

const run = promisify(execFile);

export const CLUSTER_NETWORK = 'berth';
export const CLUSTER_BRIDGE = 'berth0';
const RULE_TAG = 'berth-cluster';

interface NetworkInspect {
  Id: string;
  IPAM?: { Config?: { Subnet?: string }[] | null };
  Containers?: Record<string, unknown> | null;
}

/** How the node's network is changed: the real commands, or a recorder in unit tests. */
export interface HostNet {
  ip(args: string[]): Promise<string>;
  iptables(args: string[]): Promise<string>;
}

export const realHostNet: HostNet = {
  ip: async (args) => (await run('ip', args)).stdout,
  iptables: async (args) => (await run('iptables', ['-w', '5', ...args])).stdout,
};

/** How long a new container waits for its own service's endpoints before it starts anyway. */
const ENDPOINTS_WAIT_MS = 5000;

export class NodeNetworking {
  private applying: Promise<void> = Promise.resolve();
  private isConfigured = false;
  private gateway: string | undefined;
  private readonly endpoints = new Map<string, ServiceEndpoints>();
  private endpointsKnown = false;
  private readonly endpointWaiters = new Set<() => void>();
  private rules: { running: Promise<void>; again: boolean } | undefined;
  private readonly dns: ClusterDns;
  private readonly proxy: IngressProxy;
  /** A task's address -> its service (every node's tasks, from the endpoints' members). */
  private readonly memberOf = new Map<string, string>();
  private net: NodeNetwork | undefined;

  constructor(
    private readonly docker: DockerClient,
    private readonly log: Logger,
    private readonly host: HostNet = realHostNet,
  ) {
    this.dns = new ClusterDns((name, client) => this.lookupFor(name, client), log);
    this.proxy = new IngressProxy(log);
  }

  configured(): boolean {
    return this.isConfigured;
  }

  /**
   * `<service>` -> its VIP, `tasks.<service>` -> its ready tasks; undefined for other names. Asked
   * for `client` (a task's address) on no network of the service: null (the name is hidden).
   */
  lookup(name: string, client?: string): string[] | undefined | null {
    const n = name.replace(/\.$/, '').toLowerCase();
    const tasks = n.startsWith('tasks.');
    const e = this.endpoints.get(tasks ? n.slice('tasks.'.length) : n);
    if (!e) return undefined;
    const from = client === undefined ? undefined : this.endpoints.get(this.memberOf.get(client) ?? '');
    if (from && !sharesNetwork(from, e)) return null;
    return tasks ? e.addresses : [e.vip];
  }

  /** lookup, for a client this node does not know yet (a task that just started): its engine says whose it is. */
  async lookupFor(name: string, client?: string): Promise<string[] | undefined | null> {
    if (client !== undefined && !this.memberOf.has(client) && this.lookup(name) !== undefined) {
      const service = await this.serviceAt(client).catch(() => undefined);
      if (service) this.memberOf.set(client, service);
    }
    return this.lookup(name, client);
  }

  /** The service of the container with `address` on the cluster network, by its label. */
  private async serviceAt(address: string): Promise<string | undefined> {
    const net = await this.docker.jsonOrUndefined<{ Containers?: Record<string, { IPv4Address?: string }> | null }>('GET', `/networks/${CLUSTER_NETWORK}`);
    const id = Object.entries(net?.Containers ?? {}).find(([, c]) => c.IPv4Address?.split('/')[0] === address)?.[0];
    if (!id) return undefined;
    const c = await this.docker.jsonOrUndefined<{ Config?: { Labels?: Record<string, string> | null } }>('GET', `/containers/${id}/json`);
    return c?.Config?.Labels?.[Label.Service];
  }

  /** The full set of services' endpoints, as the server sent it: names answer from it at once. */
  applyEndpoints(list: readonly ServiceEndpoints[]): void {
    this.endpoints.clear();
    this.memberOf.clear();
    for (const e of list) {
      this.endpoints.set(e.service, e);
      for (const a of e.members ?? e.addresses) this.memberOf.set(a, e.service);
    }
    this.endpointsKnown = true;
    for (const wake of this.endpointWaiters) wake();
    this.proxy.update(list);
    this.rewriteRules();
  }

  /**
   * Rewrites the VIP, ingress and network rules; a change during a rewrite makes one more rewrite
   * after it. Nothing is written before the node's network is (applyNow writes them then).
   */
  private rewriteRules(): void {
    if (!this.net) return;
    if (this.rules) {
      this.rules.again = true;
      return;
    }
    const state = { running: Promise.resolve(), again: false };
    this.rules = state;
    state.running = (async () => {
      do {
        state.again = false;
        try {
          // After the network's own rules: the mesh's POSTROUTING jump goes above them.
          await this.applying;
          const all = [...this.endpoints.values()];
          await applyServiceRules(all, { bridge: CLUSTER_BRIDGE, gateway: this.gateway });
          if (this.net) await applyIsolationRules(all, { subnet: this.net.subnet, clusterRange: this.net.clusterRange, bridge: CLUSTER_BRIDGE });
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'service address rules not written');
        }
      } while (state.again);
      this.rules = undefined;
    })();
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.dns.close();
  }

  /** Applies `net` after any apply in flight. Never rejects: a failure is logged and tried again on the next. */
  apply(net: NodeNetwork): Promise<void> {
    this.isConfigured = true;
    this.applying = this.applying.then(() =>
      this.applyNow(net).catch((err: unknown) => this.log.error({ err: errorMessage(err), subnet: net.subnet }, 'cluster network not set up')),
    );
    return this.applying;
  }

  /**
   * The network a new container of `task` joins (`berth`, once set up) and its resolver; undefined
   * when the node has none. With service addresses, it also waits (up to 5 s) for the task's own
   * service to be in the endpoints, so its name resolves before its process starts.
   */
  async networkForTasks(task: Task): Promise<{ name: string; dns: string[] } | undefined> {
    if (!this.isConfigured) return undefined;
    await this.applying;
    if (this.endpointsKnown && !this.endpoints.has(task.serviceName)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          if (!this.endpoints.has(task.serviceName) && timer) return;
          clearTimeout(timer);
          this.endpointWaiters.delete(done);
          resolve();
        };
        let timer: NodeJS.Timeout | undefined = setTimeout(() => {
          timer = undefined;
          done();
        }, ENDPOINTS_WAIT_MS);
        this.endpointWaiters.add(done);
      });
    }
    return { name: CLUSTER_NETWORK, dns: this.gateway ? [this.gateway] : [] };
  }

  private async applyNow(net: NodeNetwork): Promise<void> {
    await this.ensureDockerNetwork(net.subnet);
    this.gateway = hostOf(parseCidr(net.subnet, 'subnet'), 1);
    this.proxy.setLocalAddress(this.gateway);
    this.net = net;
    await this.dns.listen(this.gateway).catch((err: unknown) => this.log.error({ err: errorMessage(err), address: this.gateway }, 'cluster DNS cannot listen'));
    await this.ensureRules(net);
    await this.syncRoutes(net);
    this.log.info({ subnet: net.subnet, peers: net.routes.length }, 'cluster network applied');
    if (this.endpointsKnown) this.rewriteRules();
  }

  private async ensureDockerNetwork(subnet: string): Promise<void> {
    const existing = await this.docker.jsonOrUndefined<NetworkInspect>('GET', `/networks/${CLUSTER_NETWORK}`);
    const has = existing?.IPAM?.Config?.some((c) => c.Subnet === subnet);
    if (existing && has) return;
    if (existing) {
      if (Object.keys(existing.Containers ?? {}).length > 0) {
        throw new Error(`the Docker network "${CLUSTER_NETWORK}" has another subnet than ${subnet} and containers on it`);
      }
      await this.docker.json('DELETE', `/networks/${existing.Id}`);
    }
    try {
      await this.docker.json('POST', '/networks/create', {
        body: {
          Name: CLUSTER_NETWORK,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: { Config: [{ Subnet: subnet, Gateway: hostOf(parseCidr(subnet, 'subnet'), 1) }] },
          Options: { 'com.docker.network.bridge.name': CLUSTER_BRIDGE },
          Labels: { 'berth.network': 'cluster' },
        },
      });
    } catch (err) {
      // Created meanwhile (an agent restarting while the last one's create ran): same result.
      if (!(err instanceof DockerApiError && err.statusCode === 409)) throw err;
    }
  }

  /** Inserted at the top of their chains unless there already (checked with -C). */
  private async ensureRules(net: NodeNetwork): Promise<void> {
    const comment = ['-m', 'comment', '--comment', RULE_TAG];
    const rules: [table: string, chain: string, rule: string[]][] = [
      // Between the cluster's subnets: keep the source address (no MASQUERADE after this).
      ['nat', 'POSTROUTING', ['-s', net.clusterRange, '-d', net.clusterRange, ...comment, '-j', 'RETURN']],
      // Into this node's subnet from any cluster subnet: Docker's FORWARD chain would drop it.
      ['filter', await this.forwardChain(), ['-s', net.clusterRange, '-d', net.subnet, ...comment, '-j', 'ACCEPT']],
    ];
    for (const [table, chain, rule] of rules) {
      const present = await this.host.iptables(['-t', table, '-C', chain, ...rule]).then(() => true, () => false);
      if (!present) await this.host.iptables(['-t', table, '-I', chain, '1', ...rule]);
    }
  }

  /** DOCKER-USER when the Engine made it (it keeps what is there), else FORWARD. */
  private async forwardChain(): Promise<string> {
    return this.host.iptables(['-t', 'filter', '-S', 'DOCKER-USER']).then(() => 'DOCKER-USER', () => 'FORWARD');
  }

  /** One route per peer subnet; routes to cluster subnets no peer has any more are removed. */
  private async syncRoutes(net: NodeNetwork): Promise<void> {
    const range = parseCidr(net.clusterRange, 'clusterRange');
    const wanted = new Map(net.routes.filter((r) => r.subnet !== net.subnet).map((r) => [r.subnet, r.address]));
    for (const [subnet, via] of wanted) await this.host.ip(['route', 'replace', subnet, 'via', via]);
    const table = await this.host.ip(['-4', 'route', 'show']);
    for (const line of table.split('\n')) {
      const [dst, kw] = line.trim().split(/\s+/);
      if (!dst || kw !== 'via' || wanted.has(dst)) continue;
      const base = parseIpv4(dst.split('/')[0] ?? '');
      if (base === undefined || !contains(range, base) || dst === net.subnet) continue;
      await this.host.ip(['route', 'del', dst]).catch(() => undefined);
    }
  }
}

/** Whether two services have a network in common ("default" for one that names none). */
function sharesNetwork(a: ServiceEndpoints, b: ServiceEndpoints): boolean {
  const mine = new Set(a.networks ?? [DEFAULT_NETWORK]);
  return (b.networks ?? [DEFAULT_NETWORK]).some((n) => mine.has(n));
}
