// Pure rules for tasks whose node went away or is being emptied: the tasks of a `down` node are
// orphaned (no agent will report them again), and the live tasks of a `drain` node are moved a
// few slots at a time. The planners call these before their per-slot logic.
import type { Node, Task } from '../../common/types.js';
import { isTerminal } from '../../common/types.js';
import { emptyPlan, EventReason, type Plan } from './plan.js';
import { isReady } from '../../common/task-predicates.js';

export function orphanedMessage(nodeName: string): string {
  return `node ${nodeName} is down`;
}

/**
 * Marks every task that has not ended on a `down` node as orphaned (in `plan.orphan`, with an
 * event each) and returns the task list as it will be once the plan is written, so the slot
 * logic sees those slots empty and fills them at once.
 */
export function orphanTasksOfDownNodes(tasks: readonly Task[], nodes: readonly Node[], now: string): { tasks: Task[]; plan: Plan } {
  const plan = emptyPlan();
  const down = new Map(nodes.filter((n) => n.status.state === 'down').map((n) => [n.id, n]));
  if (!down.size) return { tasks: [...tasks], plan };
  const after = tasks.map((t) => {
    const node = t.nodeId ? down.get(t.nodeId) : undefined;
    if (!node || isTerminal(t.status.state)) return t;
    const message = orphanedMessage(node.name);
    const next = orphanedCopy(t, message, now);
    plan.orphan.push({ task: t, next });
    plan.events.push({
      type: 'Warning',
      reason: EventReason.TaskOrphaned,
      object: { kind: 'task', name: t.name, id: t.id },
      message: `${message}: task orphaned`,
      service: t.serviceName,
    });
    return next;
  });
  return { tasks: after, plan };
}

/** A task as written when orphaned: ended for good, told to stop if its agent ever returns. */
export function orphanedCopy(t: Task, message: string, now: string): Task {
  return {
    ...t,
    desiredState: t.desiredState === 'remove' ? 'remove' : 'shutdown',
    status: { ...t.status, state: 'orphaned', timestamp: now, reason: 'NodeDown', message },
  };
}

/** Node ids whose tasks must move elsewhere (availability `drain`, still up). */
export function drainingNodes(nodes: readonly Node[]): Map<string, Node> {
  return new Map(nodes.filter((n) => n.availability === 'drain' && n.status.state !== 'down').map((n) => [n.id, n]));
}

/**
 * True while a slot is being moved off a draining node: its task there was told to stop and its
 * replacement is not ready yet (running, and healthy if it has a health check). `list` is the
 * slot's tasks, newest first.
 */
export function isMoving(list: readonly Task[], draining: ReadonlyMap<string, Node>, isLive: (t: Task) => boolean): boolean {
  const live = list.find(isLive);
  // A replacement with a health check has moved only once it passes it: until then the service
  // is one replica short, and moving the next slot would make it two.
  if (live && isReady(live)) return false;
  const previous = list.find((t) => !isLive(t));
  return !!previous && previous.desiredState !== 'running' && !!previous.nodeId && draining.has(previous.nodeId);
}

/**
 * Drops from `shutdown` and `remove` the tasks already written by `orphan`: one transaction may
 * not touch a key twice, and the next pass sees them orphaned anyway.
 */
export function withoutOrphanedTwice(plan: Plan): Plan {
  if (!plan.orphan.length) return plan;
  const ids = new Set(plan.orphan.map((o) => o.task.id));
  plan.shutdown = plan.shutdown.filter((s) => !ids.has(s.task.id));
  plan.remove = plan.remove.filter((t) => !ids.has(t.id));
  return plan;
}
