// What the API returns: stored objects plus status derived from the tasks (never stored twice).
import { isTerminal, type Node, type Service, type Task } from '../../common/types.js';

export interface ServiceStatusView {
  /** Replicas wanted (replicated) or tasks wanted on eligible nodes (global). */
  desired: number;
  /** Live tasks: desired running and not ended. */
  tasks: number;
  running: number;
  /** Running tasks that pass their health check, or have none: those that can serve. */
  ready: number;
}

export function isLive(t: Task): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}

/** Running, and healthy if the spec it runs has a health check. */
export function isReady(t: Task): boolean {
  if (t.status.state !== 'running') return false;
  return !t.spec.healthCheck || t.status.health === 'healthy';
}

export function serviceView(svc: Service, tasks: Task[]): Service & { status: ServiceStatusView } {
  const own = tasks.filter((t) => t.serviceName === svc.metadata.name && isLive(t));
  const desired = svc.spec.mode === 'global' ? own.length : (svc.spec.replicas ?? 1);
  const running = own.filter((t) => t.status.state === 'running').length;
  return { ...svc, status: { desired, tasks: own.length, running, ready: own.filter(isReady).length } };
}

export function nodeView(node: Node, tasks: Task[]): Node & { tasks: number } {
  return { ...node, tasks: tasks.filter((t) => t.nodeId === node.id && !isTerminal(t.status.state)).length };
}

export function sortTasks(tasks: Task[]): Task[] {
  return tasks.sort(
    (a, b) =>
      a.serviceName.localeCompare(b.serviceName) ||
      a.slot - b.slot ||
      (a.nodeId ?? '').localeCompare(b.nodeId ?? '') ||
      a.createdAt.localeCompare(b.createdAt),
  );
}
