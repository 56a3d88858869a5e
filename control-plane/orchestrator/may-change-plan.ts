// Which task changes can alter a plan at all: most task events at scale (an agent's steps between
// assigned and running) plan nothing again.
import { isTerminal, type Task, type TaskState } from '../../common/types.js';

/**
 * States a plan cannot tell apart: the task is on its node, not pending, not running, not
 * ended. The planners read a task's state only through "ended" (and which end), "pending"
 * (never reached a node) and "running" (ready); the steps an agent reports in between
 * (assigned, accepted, preparing, starting) change none of their decisions.
 */
const BETWEEN: ReadonlySet<TaskState> = new Set<TaskState>(['assigned', 'accepted', 'preparing', 'starting']);

/**
 * Whether the change from `prev` to `next` (same key) can change a plan: everything the
 * planners read (desired state, node, slot, spec, the state as above, health, restart
 * bookkeeping) compared; status messages, timestamps and versions of in-between steps are not.
 */
export function mayChangePlan(prev: Task, next: Task): boolean {
  if (
    prev.desiredState !== next.desiredState ||
    prev.nodeId !== next.nodeId ||
    prev.slot !== next.slot ||
    prev.serviceName !== next.serviceName ||
    prev.status.health !== next.status.health ||
    prev.restartAt !== next.restartAt ||
    prev.restarts !== next.restarts ||
    prev.restartedAt !== next.restartedAt ||
    prev.createdAt !== next.createdAt ||
    prev.serviceVersion !== next.serviceVersion ||
    prev.revision !== next.revision
  ) {
    return true;
  }
  const a = prev.status.state;
  const b = next.status.state;
  if (a === b) return isTerminal(a) ? prev.status.timestamp !== next.status.timestamp : false;
  return !(BETWEEN.has(a) && BETWEEN.has(b));
}
