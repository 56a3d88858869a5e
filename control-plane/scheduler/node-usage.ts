// What is already placed on each node, kept up to date as a scheduling pass places tasks, so
// a pass never recomputes a node's usage from the task list and never double-books it.
import { hostPortOf } from '../../common/ports.js';
import { requestsOf } from '../../common/quantity.js';
import { isLive } from '../../common/task-predicates.js';
import { isTerminal, taskStateRank, type Node, type PortSpec, type Task } from '../../common/types.js';

export interface NodeUsage {
  /** CPU millicores requested by tasks on the node that have not ended. */
  cpu: number;
  /** Memory bytes requested by tasks on the node that have not ended. */
  memory: number;
  /** Fixed host ports (`8080/tcp`) bound by tasks on the node that have not ended. */
  ports: Set<string>;
  /** Live tasks (desired running, not ended) per service: for spread and maxPerNode. */
  liveByService: Map<string, number>;
  /** Live tasks of every service: the last tiebreak before the node name. */
  live: number;
}

export interface NodeInfo {
  node: Node;
  usage: NodeUsage;
}

export function emptyUsage(): NodeUsage {
  return { cpu: 0, memory: 0, ports: new Set(), liveByService: new Map(), live: 0 };
}

/**
 * True when the task occupies its node: from `assigned` until it ends. A task desired
 * `shutdown` that still runs holds its resources and ports until the agent reports its end.
 */
export function holdsNode(task: Task): boolean {
  if (!task.nodeId) return false;
  const state = task.status.state;
  return taskStateRank(state) >= taskStateRank('assigned') && !isTerminal(state);
}

/**
 * Counts for spread and maxPerNode: on its node and live. Narrower than `isLive`, which also
 * holds for a task not placed yet (new, pending), one that counts against no node.
 */
export function isLiveOnNode(task: Task): boolean {
  return holdsNode(task) && isLive(task);
}

/** `8080/tcp` keys of the task's fixed host ports (0 or absent means the runtime picks one). */
export function fixedHostPorts(ports: PortSpec[] | undefined): string[] {
  const out: string[] = [];
  for (const p of ports ?? []) {
    const hostPort = hostPortOf(p);
    if (hostPort && hostPort > 0) out.push(`${hostPort}/${p.protocol ?? 'tcp'}`);
  }
  return out;
}

/** Adds a task (already stored or just placed) to its node's usage. */
export function addTask(usage: NodeUsage, task: Task, live: boolean): void {
  const req = requestsOf(task.spec.resources);
  usage.cpu += req.cpu;
  usage.memory += req.memory;
  for (const p of fixedHostPorts(task.spec.ports)) usage.ports.add(p);
  if (live) {
    usage.liveByService.set(task.serviceName, (usage.liveByService.get(task.serviceName) ?? 0) + 1);
    usage.live++;
  }
}

/** One NodeInfo per node, by node id, with the usage of every task holding it. */
export function buildNodeInfos(nodes: Node[], tasks: Iterable<Task>): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const node of nodes) infos.set(node.id, { node, usage: emptyUsage() });
  for (const task of tasks) {
    if (!holdsNode(task)) continue;
    const info = infos.get(task.nodeId!);
    if (info) addTask(info.usage, task, task.desiredState === 'running');
  }
  return infos;
}
