// Every registered server as this server sees it (`servers/<name>`, written by servers.ts): the
// dispatcher tells its agents every server's agent address (so an agent moves to another server
// when its own dies), and `berth.yaml` lists every server's API URL. Owns: the watch of the
// registrations and telling listeners when the set of addresses changes (not on every rewrite of
// a registration: those happen on each lease renewal after an outage, and on etcd health changes).
// Must not: write anything.
import type { Logger } from 'pino';
import { Informer } from '../store/informer.js';
import { serverKeys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { ServerRecord } from './servers.js';

/** What the dispatcher needs: the agent addresses to hand out, and a word when they change. */
export interface AgentAddressBook {
  agentAddresses(): string[];
  /** Calls `listener` when the set of agent addresses changed; returns the unsubscribe. */
  onAgentAddresses(listener: (addresses: string[]) => void): () => void;
}

export class ServerDirectory implements AgentAddressBook {
  private readonly informer: Informer<ServerRecord>;
  private readonly agentListeners = new Set<(addresses: string[]) => void>();
  private readonly apiListeners = new Set<(urls: string[]) => void>();
  private lastAgents = '';
  private lastApis = '';
  private off: () => void = () => true;

  constructor(store: Store, logger: Logger) {
    this.informer = new Informer<ServerRecord>({ store, prefix: serverKeys.servers, logger: logger.child({ component: 'server-directory' }) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    this.lastAgents = this.agentAddresses().join(',');
    this.lastApis = this.apiUrls().join(',');
    this.off = this.informer.subscribe(() => this.changed());
  }

  async stop(): Promise<void> {
    this.off();
    await this.informer.stop();
  }

  /** Every registered server's agent address, sorted, without duplicates. */
  agentAddresses(): string[] {
    return unique([...this.informer.cache.values()].map((s) => s.agentAddress));
  }

  /** Every registered server's API URL, sorted, without duplicates. */
  apiUrls(): string[] {
    return unique([...this.informer.cache.values()].map((s) => s.apiUrl));
  }

  onAgentAddresses(listener: (addresses: string[]) => void): () => void {
    this.agentListeners.add(listener);
    return () => this.agentListeners.delete(listener);
  }

  onApiUrls(listener: (urls: string[]) => void): () => void {
    this.apiListeners.add(listener);
    return () => this.apiListeners.delete(listener);
  }

  private changed(): void {
    const agents = this.agentAddresses();
    if (agents.join(',') !== this.lastAgents) {
      this.lastAgents = agents.join(',');
      for (const l of this.agentListeners) l(agents);
    }
    const apis = this.apiUrls();
    if (apis.join(',') !== this.lastApis) {
      this.lastApis = apis.join(',');
      for (const l of this.apiListeners) l(apis);
    }
  }
}

function unique(values: (string | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => !!v))].sort();
}
