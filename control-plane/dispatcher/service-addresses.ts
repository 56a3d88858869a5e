// Service addresses (docs/networking.md): with `--service-addresses RANGE`, every service gets a
// virtual address (VIP) of RANGE, claimed in etcd as `vips/<address>` = { service } (a create, so
// two servers never hand one address to two services; if two servers claimed two addresses for
// one service at once, the lowest is kept and the other deleted). A service's VIP is freed when
// the service is gone. The endpoints of every service (VIP, ready tasks' cluster addresses) are
// computed from the services, the VIPs and the tasks, and handed to `push` (gathered over 20 ms)
// whenever they change; the dispatcher sends them to every agent.
//
// Must not: talk to agents, or touch a node's network.
import type { Logger } from 'pino';
import { formatIpv4, parseCidr, parseIpv4, type Cidr } from '../../common/cidr.js';
import { errorMessage } from '../../common/errors.js';
import { isReady } from '../../common/task-predicates.js';
import { serviceNetworks } from '../../common/networks.js';
import { ingressPorts } from '../../common/ports.js';
import { isTerminal, type IngressPort, type Node, type Service, type ServiceEndpoints, type Task } from '../../common/types.js';
import type { Informer } from '../store/informer.js';
import { informerFor } from '../store/shared-informers.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

interface VipRecord {
  service: string;
  address?: string;
}

export interface ServiceAddressesOptions {
  store: Store;
  logger: Logger;
  /** `--service-addresses`. */
  range: string;
  services: Informer<Service>;
  tasks: Informer<Task>;
  /** The nodes: a down node's tasks are no endpoints from the moment it is judged down. */
  nodes?: Informer<Node>;
  /** Called with the full set whenever it changed. */
  push: (endpoints: ServiceEndpoints[]) => void;
  batchMs?: number;
}

/** Whether the task takes new connections: wanted running, running, and ready. */
export function isEndpoint(t: Task): boolean {
  return t.desiredState === 'running' && isReady(t) && !!t.status.address;
}

/** Whose a packet is: a task wanted running that has an address, ready or not. */
export function isMember(t: Task): boolean {
  return t.desiredState === 'running' && !!t.status.address && !isTerminal(t.status.state);
}

/** What the endpoints say of a service beside its tasks: its ingress ports and its networks. */
export interface ServiceNetworking {
  ingress: IngressPort[];
  networks: string[];
}

/** The endpoints of every service that has a VIP, sorted by service name; with its ingress ports (the routing mesh) and networks. */
export function computeEndpoints(
  vips: ReadonlyMap<string, string>,
  tasks: Iterable<Task>,
  of: ReadonlyMap<string, ServiceNetworking | IngressPort[]> = new Map(),
  downNodes: ReadonlySet<string> = new Set(),
): ServiceEndpoints[] {
  const addresses = new Map<string, string[]>();
  const members = new Map<string, string[]>();
  for (const t of tasks) {
    // A task of a node judged down leaves at once, before the orchestrator has written it orphaned.
    if (!vips.has(t.serviceName) || (t.nodeId && downNodes.has(t.nodeId))) continue;
    if (isMember(t)) members.set(t.serviceName, [...(members.get(t.serviceName) ?? []), t.status.address!]);
    if (!isEndpoint(t)) continue;
    const list = addresses.get(t.serviceName) ?? [];
    list.push(t.status.address!);
    addresses.set(t.serviceName, list);
  }
  return [...vips.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, vip]) => {
      const extra = of.get(service);
      const ports = Array.isArray(extra) ? extra : (extra?.ingress ?? []);
      const networks = Array.isArray(extra) ? undefined : extra?.networks;
      const mine = (members.get(service) ?? []).sort();
      return {
        service,
        vip,
        addresses: (addresses.get(service) ?? []).sort(),
        ...(ports.length ? { ingress: ports } : {}),
        ...(networks ? { networks } : {}),
        ...(mine.length ? { members: mine } : {}),
      };
    });
}

export class ServiceAddresses {
  readonly range: Cidr;
  private readonly vips: Informer<VipRecord>;
  private readonly releaseVips: () => Promise<void>;
  private readonly unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reconciling = false;
  private lastSent = '';
  private current: ServiceEndpoints[] = [];
  private stopped = false;

  constructor(private readonly opts: ServiceAddressesOptions) {
    this.range = parseCidr(opts.range, '--service-addresses');
    ({ informer: this.vips, release: this.releaseVips } = informerFor<VipRecord>(undefined, { store: opts.store, prefix: keys.vips, logger: opts.logger }));
  }

  async start(): Promise<void> {
    this.vips.start();
    await Promise.all([this.vips.synced, this.opts.services.synced, this.opts.tasks.synced, ...(this.opts.nodes ? [this.opts.nodes.synced] : [])]);
    this.unsubscribe.push(
      this.vips.subscribe(() => this.schedule()),
      this.opts.services.subscribe(() => this.schedule()),
      this.opts.tasks.subscribe(() => this.schedule()),
      ...(this.opts.nodes ? [this.opts.nodes.subscribe(() => this.schedule())] : []),
    );
    await this.reconcile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    if (this.timer) clearTimeout(this.timer);
    await this.releaseVips();
  }

  /** The endpoints as last computed (what a new session is sent first). */
  endpoints(): ServiceEndpoints[] {
    return this.current;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.reconcile();
    }, this.opts.batchMs ?? 20);
  }

  /** service -> its VIP (the lowest it holds); and the records to delete. */
  private vipsByService(): { vips: Map<string, string>; extra: string[] } {
    const held = new Map<string, number[]>();
    for (const [key, rec] of this.vips.cache) {
      const ip = parseIpv4(key.slice(keys.vips.length));
      if (ip === undefined) continue;
      held.set(rec.service, [...(held.get(rec.service) ?? []), ip]);
    }
    const vips = new Map<string, string>();
    const extra: string[] = [];
    for (const [service, ips] of held) {
      ips.sort((a, b) => a - b);
      const exists = this.opts.services.cache.has(keys.service(service));
      ips.forEach((ip, i) => (exists && i === 0 ? vips.set(service, formatIpv4(ip)) : extra.push(formatIpv4(ip))));
    }
    return { vips, extra };
  }

  private async reconcile(): Promise<void> {
    if (this.reconciling || this.stopped) {
      this.schedule();
      return;
    }
    this.reconciling = true;
    try {
      const { vips, extra } = this.vipsByService();
      for (const ip of extra) await this.opts.store.delete(keys.vip(ip)).catch(() => undefined);
      const missing = [...this.opts.services.values()].map((s) => s.metadata.name).filter((n) => !vips.has(n));
      if (missing.length) await this.claim(missing, new Set([...this.vips.cache.keys()]));
      const of = new Map([...this.opts.services.values()].map((svc) => [svc.metadata.name, { ingress: ingressPorts(svc.spec), networks: serviceNetworks(svc.spec) }]));
      const down = new Set([...(this.opts.nodes?.values() ?? [])].filter((n) => n.status.state === 'down').map((n) => n.id));
      this.publish(computeEndpoints(vips, this.opts.tasks.values(), of, down));
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'service addresses: will try again');
      this.schedule();
    } finally {
      this.reconciling = false;
    }
  }

  /** Claims the first free address of the range for each service (the watch brings them back). */
  private async claim(services: string[], taken: Set<string>): Promise<void> {
    const size = 2 ** (32 - this.range.prefix);
    let next = 1; // not the block's first address
    for (const service of services) {
      while (next < size - 1 && taken.has(keys.vip(formatIpv4(this.range.base + next)))) next++;
      if (next >= size - 1) {
        this.opts.logger.warn({ service }, 'no free service address: the service has no name on the cluster network');
        return;
      }
      const ip = formatIpv4(this.range.base + next);
      taken.add(keys.vip(ip));
      try {
        await this.opts.store.create(keys.vip(ip), { service, address: ip } satisfies VipRecord);
        this.opts.logger.info({ service, vip: ip }, 'service address assigned');
      } catch (err) {
        this.opts.logger.debug({ service, err: errorMessage(err) }, 'service address taken meanwhile; trying again');
        this.schedule();
      }
    }
  }

  private publish(list: ServiceEndpoints[]): void {
    const text = JSON.stringify(list);
    if (text === this.lastSent) return;
    this.lastSent = text;
    this.current = list;
    this.opts.push(list);
  }
}
