// Turns a placement result into store writes, each conditional on the version of the task it
// was decided from: a task that changed meanwhile is refused as a conflict and judged afresh by
// the next pass. A pending task's explanation is written only when it changes, so passes that
// decide nothing new write nothing.
import type { Node, Task } from '../../common/types.js';
import { keys } from '../store/keys.js';
import type { WriteOp } from '../store/store.js';
import type { PlacementResult } from './placement.js';
import { scheduledOn, UNSCHEDULABLE } from './reasons.js';

export interface PlannedWrites {
  ops: WriteOp[];
  /**
   * The tasks as written, keyed like the ops, each carrying the version it was decided from,
   * so the loop can use them until its cache has seen the write.
   */
  written: Map<string, Task>;
}

export function planWrites(
  result: PlacementResult,
  tasksById: ReadonlyMap<string, Task>,
  nodesById: ReadonlyMap<string, Node>,
  now: string,
): PlannedWrites {
  const out: PlannedWrites = { ops: [], written: new Map() };
  const write = (task: Task, next: Task): void => {
    if (task.version === undefined) return;
    const key = keys.task(task.serviceName, task.id);
    out.ops.push({ type: 'put', key, value: next, version: task.version });
    out.written.set(key, { ...next, version: task.version });
  };
  for (const p of result.placements) {
    const task = tasksById.get(p.taskId);
    const node = nodesById.get(p.nodeId);
    if (!task || !node) continue;
    write(task, {
      ...task,
      nodeId: node.id,
      status: { state: 'assigned', timestamp: now, message: scheduledOn(node.name) },
    });
  }
  for (const u of result.unplaceable) {
    const task = tasksById.get(u.taskId);
    const reason = u.reason ?? UNSCHEDULABLE;
    if (!task || (task.status.message === u.message && task.status.reason === reason)) continue;
    // The timestamp says when the state changed; a new explanation is not a new state.
    write(task, { ...task, status: { ...task.status, reason, message: u.message } });
  }
  return out;
}
