// Watches every task in etcd (list, then watch, through the store's Informer) and keeps, per
// task, when it was first seen, first assigned to a node and first reported running. This is
// what "all running" means in the figures: the status the dispatcher wrote after the agents'
// acknowledgements, not what the agents think.
import { pino } from 'pino';
import type { Task } from '../../common/types.js';
import { Informer } from '../../control-plane/store/informer.js';
import { keys } from '../../control-plane/store/keys.js';
import { Store } from '../../control-plane/store/store.js';

export class TaskTracker {
  readonly firstSeen = new Map<string, number>();
  readonly assignedAt = new Map<string, number>();
  readonly runningAt = new Map<string, number>();
  private readonly store: Store;
  private readonly informer: Informer<Task>;

  constructor(etcdUrl: string, prefix = '/berth/') {
    const logger = pino({ level: 'silent' });
    this.store = new Store({ endpoints: [etcdUrl], prefix, logger, timeoutMs: 60_000 });
    this.informer = new Informer<Task>({
      store: this.store,
      prefix: keys.tasks,
      logger,
      onEvent: (ev) => {
        if (ev.type === 'put') this.see(ev.value);
      },
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    for (const t of this.informer.cache.values()) this.see(t);
  }

  get running(): number {
    return this.runningAt.size;
  }

  get assigned(): number {
    return this.assignedAt.size;
  }

  /** Nodes recorded in etcd whose status is ready. */
  async readyNodes(): Promise<number> {
    const nodes = await this.store.list<{ status?: { state?: string } }>(keys.nodes);
    return nodes.items.filter((n) => n.status?.state === 'ready').length;
  }

  async stop(): Promise<void> {
    await this.informer.stop();
    this.store.close();
  }

  private see(t: Task): void {
    const now = performance.now();
    if (!this.firstSeen.has(t.id)) this.firstSeen.set(t.id, now);
    if (t.nodeId && !this.assignedAt.has(t.id)) this.assignedAt.set(t.id, now);
    if (t.status.state === 'running' && !this.runningAt.has(t.id)) this.runningAt.set(t.id, now);
  }
}
