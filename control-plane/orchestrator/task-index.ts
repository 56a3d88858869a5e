// The orchestrator's view of the task cache, kept per informer event: tasks per service (what a
// plan reads) and services per node (whose plans a node's health changes), so a pass never
// regroups every task, and which task changes can alter a plan at all.
import { isTerminal, type Task, type TaskState } from '../../common/types.js';

export class TaskIndex {
  private readonly byService = new Map<string, Map<string, Task>>();
  /** Per node id: how many tasks of each service it holds. */
  private readonly byNode = new Map<string, Map<string, number>>();

  /** A task appeared or changed (`previous` is the cached object it replaces, if any). */
  put(key: string, task: Task, previous?: Task): void {
    if (previous) this.delete(key, previous);
    let tasks = this.byService.get(task.serviceName);
    if (!tasks) this.byService.set(task.serviceName, (tasks = new Map<string, Task>()));
    tasks.set(key, task);
    if (task.nodeId) {
      let services = this.byNode.get(task.nodeId);
      if (!services) this.byNode.set(task.nodeId, (services = new Map<string, number>()));
      services.set(task.serviceName, (services.get(task.serviceName) ?? 0) + 1);
    }
  }

  delete(key: string, task: Task): void {
    const tasks = this.byService.get(task.serviceName);
    if (tasks?.delete(key) && !tasks.size) this.byService.delete(task.serviceName);
    const services = task.nodeId ? this.byNode.get(task.nodeId) : undefined;
    if (!services) return;
    const n = (services.get(task.serviceName) ?? 0) - 1;
    if (n > 0) services.set(task.serviceName, n);
    else services.delete(task.serviceName);
    if (!services.size) this.byNode.delete(task.nodeId!);
  }

  /** The service's tasks (a fresh array the planner may keep). */
  tasksOf(service: string): Task[] {
    const tasks = this.byService.get(service);
    return tasks ? [...tasks.values()] : [];
  }

  services(): IterableIterator<string> {
    return this.byService.keys();
  }

  servicesOnNode(nodeId: string): IterableIterator<string> {
    return (this.byNode.get(nodeId) ?? new Map<string, number>()).keys();
  }
}

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
