// Watches every task in etcd (list, then watch, through the store's Informer) and keeps, per
// task, when it was first seen, first assigned to a node and first reported running. This is
// what "all running" means in the figures: the status the dispatcher wrote after the agents'
// acknowledgements, not what the agents think.
import { pino } from 'pino';
import { storedEvents, type BerthEvent, type StoredEvents } from '../../common/events.js';
import type { Task } from '../../common/types.js';
import { Informer } from '../../control-plane/store/informer.js';
import { keys } from '../../control-plane/store/keys.js';
import { Store } from '../../control-plane/store/store.js';

export class TaskTracker {
  readonly firstSeen = new Map<string, number>();
  readonly assignedAt = new Map<string, number>();
  readonly runningAt = new Map<string, number>();
  /** Service of each task seen. */
  readonly serviceOf = new Map<string, string>();
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

  /** When each task of `service` was first reported running. */
  runningOf(service: string): number[] {
    return [...this.runningAt].filter(([id]) => this.serviceOf.get(id) === service).map(([, at]) => at);
  }

  get assigned(): number {
    return this.assignedAt.size;
  }

  /**
   * Per whole second since `t0` (a performance.now() value): how many tasks had been seen,
   * assigned and reported running by then. Shows where a run stalls.
   */
  timeline(t0: number, untilMs: number): { second: number; created: number; assigned: number; running: number }[] {
    const seconds = Math.max(0, Math.ceil((untilMs - t0) / 1000));
    const bucket = (m: Map<string, number>) => {
      const counts = new Array<number>(seconds + 1).fill(0);
      for (const at of m.values()) counts[Math.min(seconds, Math.max(0, Math.ceil((at - t0) / 1000)))]!++;
      for (let i = 1; i < counts.length; i++) counts[i]! += counts[i - 1]!;
      return counts;
    };
    const [created, assigned, running] = [bucket(this.firstSeen), bucket(this.assignedAt), bucket(this.runningAt)];
    return created.map((c, second) => ({ second, created: c, assigned: assigned[second]!, running: running[second]! }));
  }

  /** Events of the run in etcd, counted by reason (node down, task orphaned...). */
  async eventCounts(reasons: readonly string[]): Promise<Record<string, number>> {
    const { items } = await this.store.list<StoredEvents | BerthEvent>(keys.events);
    const out: Record<string, number> = Object.fromEntries(reasons.map((r) => [r, 0]));
    for (const e of items.flatMap(storedEvents)) if (e.reason in out) out[e.reason]!++;
    return out;
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
    if (!this.firstSeen.has(t.id)) {
      this.firstSeen.set(t.id, now);
      this.serviceOf.set(t.id, t.serviceName);
    }
    if (t.nodeId && !this.assignedAt.has(t.id)) this.assignedAt.set(t.id, now);
    if (t.status.state === 'running' && !this.runningAt.has(t.id)) this.runningAt.set(t.id, now);
  }
}
