// The latest usage report of each node whose session this server holds (in memory only: it is
// stale within seconds, and etcd is for what must survive), and the API's views of it: each
// figure joined with its node, its task and what they requested and offer.
//
// Owns: keeping, forgetting (session ended) and presenting the reports.
// Must not: read etcd, or hear of nodes whose session another server holds (the API gathers
// those from the other servers).
import { requestsOf } from '../../common/quantity.js';
import { isTerminal, type Node, type Task } from '../../common/types.js';
import type { NodeUsage, TaskUsage, UsageReport } from '../../common/usage.js';

export interface UsageLookups {
  node(nodeId: string): Node | undefined;
  task(taskId: string): Task | undefined;
  tasksOf(nodeId: string): Task[];
}

/** What the API asks for: one kind, optionally narrowed. */
export type UsageQuery = { kind: 'nodes' } | { kind: 'tasks'; service?: string; node?: string };

export class UsageBook {
  private readonly reports = new Map<string, UsageReport>();

  constructor(
    private readonly lookups: UsageLookups,
    private readonly serverName: string,
  ) {}

  record(nodeId: string, report: UsageReport): void {
    this.reports.set(nodeId, report);
  }

  forget(nodeId: string): void {
    this.reports.delete(nodeId);
  }

  get size(): number {
    return this.reports.size;
  }

  nodes(): NodeUsage[] {
    const out: NodeUsage[] = [];
    for (const [nodeId, r] of this.reports) {
      const node = this.lookups.node(nodeId);
      if (!node) continue;
      const requested = { cpu: 0, memory: 0 };
      for (const t of this.lookups.tasksOf(nodeId)) {
        if (t.desiredState !== 'running' || isTerminal(t.status.state)) continue;
        const req = requestsOf(t.spec.resources);
        requested.cpu += req.cpu;
        requested.memory += req.memory;
      }
      let cpu = 0;
      let memory = 0;
      for (const c of r.containers) {
        cpu += c.cpu;
        memory += c.memory;
      }
      out.push({
        nodeId,
        node: node.name,
        cpu,
        memory,
        allocatable: node.allocatable ?? r.allocatable,
        requested,
        tasks: r.containers.length,
        sampledAt: new Date(r.sampledAtMs).toISOString(),
        server: this.serverName,
      });
    }
    return out;
  }

  tasks(filter: { service?: string; node?: string } = {}): TaskUsage[] {
    const out: TaskUsage[] = [];
    for (const [nodeId, r] of this.reports) {
      const node = this.lookups.node(nodeId);
      if (!node) continue;
      if (filter.node !== undefined && filter.node !== node.name && filter.node !== nodeId) continue;
      const sampledAt = new Date(r.sampledAtMs).toISOString();
      for (const c of r.containers) {
        const task = this.lookups.task(c.taskId);
        if (!task) continue;
        if (filter.service !== undefined && task.serviceName !== filter.service) continue;
        out.push({
          taskId: task.id,
          task: task.name,
          service: task.serviceName,
          nodeId,
          node: node.name,
          cpu: c.cpu,
          memory: c.memory,
          requested: requestsOf(task.spec.resources),
          sampledAt,
          server: this.serverName,
        });
      }
    }
    return out;
  }

  answer(q: UsageQuery): NodeUsage[] | TaskUsage[] {
    return q.kind === 'nodes' ? this.nodes() : this.tasks({ ...(q.service !== undefined ? { service: q.service } : {}), ...(q.node !== undefined ? { node: q.node } : {}) });
  }
}
