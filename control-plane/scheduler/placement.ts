// The placement decision as a pure function: pending tasks, nodes and the tasks already on
// them in; placements and explained refusals out. No I/O, no clock: the scheduler loop
// (scheduler.ts) reads the store, calls this, and writes the result.
//
// Tasks that share a service and the fields filters read (resources, ports, placement) form a
// group judged together: node-only filters run once per node per group, the feasible nodes go
// in a heap ordered by rank, and each task of the group takes the best node that still fits.
// Placing a task only changes its own node's usage, so only that node is re-ranked: a pass
// costs O(groups x nodes + tasks x log nodes).
import { requestsOf } from '../../common/quantity.js';
import type { Node, Task } from '../../common/types.js';
import { FilterKind, type Filter } from './filters.js';
import { addTask, buildNodeInfos, type NodeInfo } from './node-usage.js';
import { Pipeline } from './pipeline.js';
import { compareRank, MinHeap, rankOf, type Rank } from './rank.js';
import { pinnedNodeMissing } from './reasons.js';

export interface Placement {
  taskId: string;
  nodeId: string;
}

export interface Unplaceable {
  taskId: string;
  /** e.g. `0/3 nodes available: 2 insufficient memory, 1 not ready`. */
  message: string;
  /** `status.reason` to write (default `Unschedulable`). */
  reason?: string;
}

export interface PlacementResult {
  placements: Placement[];
  unplaceable: Unplaceable[];
}

export interface PlacementOptions {
  /** Filters to judge nodes by (default: all of filters.ts). A fresh set per call. */
  filters?: Filter[];
}

/**
 * True for a task the scheduler should place: pending and still wanted, and (given `nowMs`)
 * past its restart backoff. Without `nowMs` a backed-off task counts, so its arrival still
 * triggers a pass, which then arranges the pass at its `restartAt`.
 */
export function isSchedulable(task: Task, nowMs?: number): boolean {
  if (task.status.state !== 'pending' || task.desiredState !== 'running') return false;
  return nowMs === undefined || !task.restartAt || Date.parse(task.restartAt) <= nowMs;
}

/** The earliest `restartAt` after `nowMs` among pending tasks, in ms; undefined if none. */
export function nextRestartAt(tasks: readonly Task[], nowMs: number): number | undefined {
  let next: number | undefined;
  for (const t of tasks) {
    if (!t.restartAt || !isSchedulable(t)) continue;
    const at = Date.parse(t.restartAt);
    if (at > nowMs && (next === undefined || at < next)) next = at;
  }
  return next;
}

/**
 * Places `pendingTasks` on `nodes`. `liveTasks` are the tasks that may occupy nodes (any task
 * list will do: those not holding a node are ignored, so passing every task is fine). Tasks
 * with a `nodeId` (global services) are only judged against that node. Placements made in the
 * call count against later tasks of the same call.
 */
export function placeTasks(
  pendingTasks: readonly Task[],
  nodes: readonly Node[],
  liveTasks: Iterable<Task>,
  opts: PlacementOptions = {},
): PlacementResult {
  return placeTasksOn(pendingTasks, buildNodeInfos([...nodes], liveTasks), opts);
}

/**
 * placeTasks on usage already known per node (the scheduler keeps it up to date from the
 * store's changes). Adds the placements it makes to `infos`: pass a copy.
 */
export function placeTasksOn(
  pendingTasks: readonly Task[],
  infos: Map<string, NodeInfo>,
  opts: PlacementOptions = {},
): PlacementResult {
  const pipeline = new Pipeline(opts.filters);
  pipeline.setNodes([...infos.values()].map((i) => i.node));
  const result: PlacementResult = { placements: [], unplaceable: [] };
  const ordered = [...pendingTasks].sort(byAge);

  // Pinned tasks first: they have no other node to go to.
  for (const task of ordered) {
    if (task.nodeId !== undefined) placePinned(task, task.nodeId, infos, pipeline, result);
  }
  for (const group of groupTasks(ordered.filter((t) => t.nodeId === undefined))) {
    placeGroup(group, infos, pipeline, result);
  }
  return result;
}

function placePinned(task: Task, nodeId: string, infos: Map<string, NodeInfo>, pipeline: Pipeline, result: PlacementResult): void {
  const info = infos.get(nodeId);
  if (!info) {
    result.unplaceable.push({ taskId: task.id, message: `0/1 nodes available: ${pinnedNodeMissing(nodeId)}` });
    return;
  }
  pipeline.setTask(task);
  if (pipeline.check(info.node, info.usage)) {
    addTask(info.usage, task, true);
    result.placements.push({ taskId: task.id, nodeId });
  } else {
    result.unplaceable.push({ taskId: task.id, message: pipeline.explain(1) });
  }
}

interface Ranked {
  info: NodeInfo;
  rank: Rank;
}

function placeGroup(group: Task[], infos: Map<string, NodeInfo>, pipeline: Pipeline, result: PlacementResult): void {
  const first = group[0]!;
  const service = first.serviceName;
  const request = requestsOf(first.spec.resources);
  pipeline.setTask(first);
  const heap = new MinHeap<Ranked>((a, b) => compareRank(a.rank, b.rank) < 0);
  for (const info of infos.values()) {
    if (!pipeline.check(info.node, info.usage, FilterKind.Node)) continue;
    if (!pipeline.check(info.node, info.usage, FilterKind.Usage)) continue;
    heap.push({ info, rank: rankOf(info, service, request) });
  }
  let message: string | undefined;
  for (const task of group) {
    let placed = false;
    while (!placed && heap.size > 0) {
      const { info } = heap.pop()!;
      // Usage only grows during a pass: a node that no longer fits this group never will
      // again, so it leaves the heap (counted against the filter it failed).
      if (!pipeline.check(info.node, info.usage, FilterKind.Usage)) continue;
      addTask(info.usage, task, true);
      result.placements.push({ taskId: task.id, nodeId: info.node.id });
      heap.push({ info, rank: rankOf(info, service, request) });
      placed = true;
    }
    if (!placed) {
      message ??= pipeline.explain(infos.size);
      result.unplaceable.push({ taskId: task.id, message });
    }
  }
}

/** Groups of tasks that every filter and the ranking judge alike, oldest group first. */
function groupTasks(tasks: Task[]): Task[][] {
  const groups = new Map<string, Task[]>();
  for (const task of tasks) {
    const { resources, ports, placement, volumes } = task.spec;
    const key = `${task.serviceName}\0${JSON.stringify([resources ?? null, ports ?? null, placement ?? null, volumes ?? null])}`;
    const group = groups.get(key);
    if (group) group.push(task);
    else groups.set(key, [task]);
  }
  return [...groups.values()];
}

function byAge(a: Task, b: Task): number {
  return cmp(a.createdAt, b.createdAt) || cmp(a.serviceName, b.serviceName) || a.slot - b.slot || cmp(a.id, b.id);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
