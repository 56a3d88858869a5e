// Node usage kept up to date task by task, as the informer reports changes, so a scheduling pass
// copies the usage of each node instead of recomputing it from every task in the store (at
// 50,000 tasks that rebuild cost more than the placement itself).
import { requestsOf } from '../../common/quantity.js';
import type { Node, Task } from '../../common/types.js';
import { emptyUsage, fixedHostPorts, holdsNode, type NodeInfo, type NodeUsage } from './node-usage.js';

/** What one task adds to its node's usage, remembered so it can be taken away exactly. */
interface Share {
  nodeId: string;
  service: string;
  cpu: number;
  memory: number;
  ports: string[];
  live: boolean;
}

interface Tally {
  usage: NodeUsage;
  /** Tasks holding each host port: a port is free again when the last of them ends. */
  portHolders: Map<string, number>;
}

export class UsageTally {
  private readonly shares = new Map<string, Share>();
  private readonly byNode = new Map<string, Tally>();

  /** Sets the share of the task stored at `key` to that of `task` (undefined: gone). Idempotent. */
  set(key: string, task: Task | undefined): void {
    const old = this.shares.get(key);
    const next = task && holdsNode(task) ? shareOf(task) : undefined;
    if (old && next && sameShare(old, next)) return;
    if (old) {
      this.remove(old);
      this.shares.delete(key);
    }
    if (next) {
      this.add(next);
      this.shares.set(key, next);
    }
  }

  /** One NodeInfo per node with a copy of its usage, for a pass to add its placements to. */
  infos(nodes: Iterable<Node>): Map<string, NodeInfo> {
    const out = new Map<string, NodeInfo>();
    for (const node of nodes) {
      const u = this.byNode.get(node.id)?.usage;
      const usage = u
        ? { cpu: u.cpu, memory: u.memory, ports: new Set(u.ports), liveByService: new Map(u.liveByService), live: u.live }
        : emptyUsage();
      out.set(node.id, { node, usage });
    }
    return out;
  }

  /** The usage of one node (tests and diagnostics). */
  usageOf(nodeId: string): NodeUsage {
    return this.byNode.get(nodeId)?.usage ?? emptyUsage();
  }

  private add(s: Share): void {
    let t = this.byNode.get(s.nodeId);
    if (!t) this.byNode.set(s.nodeId, (t = { usage: emptyUsage(), portHolders: new Map() }));
    const u = t.usage;
    u.cpu += s.cpu;
    u.memory += s.memory;
    for (const p of s.ports) {
      t.portHolders.set(p, (t.portHolders.get(p) ?? 0) + 1);
      u.ports.add(p);
    }
    if (s.live) {
      u.liveByService.set(s.service, (u.liveByService.get(s.service) ?? 0) + 1);
      u.live++;
    }
  }

  private remove(s: Share): void {
    const t = this.byNode.get(s.nodeId);
    if (!t) return;
    const u = t.usage;
    u.cpu -= s.cpu;
    u.memory -= s.memory;
    for (const p of s.ports) {
      const left = (t.portHolders.get(p) ?? 1) - 1;
      if (left > 0) t.portHolders.set(p, left);
      else {
        t.portHolders.delete(p);
        u.ports.delete(p);
      }
    }
    if (s.live) {
      const left = (u.liveByService.get(s.service) ?? 1) - 1;
      if (left > 0) u.liveByService.set(s.service, left);
      else u.liveByService.delete(s.service);
      u.live--;
    }
    if (u.live === 0 && u.cpu === 0 && u.memory === 0 && t.portHolders.size === 0) this.byNode.delete(s.nodeId);
  }
}

function shareOf(task: Task): Share {
  const req = requestsOf(task.spec.resources);
  return {
    nodeId: task.nodeId!,
    service: task.serviceName,
    cpu: req.cpu,
    memory: req.memory,
    ports: fixedHostPorts(task.spec.ports),
    live: task.desiredState === 'running',
  };
}

function sameShare(a: Share, b: Share): boolean {
  return (
    a.nodeId === b.nodeId &&
    a.service === b.service &&
    a.cpu === b.cpu &&
    a.memory === b.memory &&
    a.live === b.live &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}
