// What the API returns: stored objects plus status derived from the tasks (never stored twice).
import type { UpdateStatus } from '../../common/rollout.js';
import { isTerminal, type Node, type Service, type Task } from '../../common/types.js';
import { isOutdated, isReady } from '../orchestrator/rules.js';

export { isReady };

export interface ServiceStatusView {
  /** Replicas wanted (replicated) or tasks wanted on eligible nodes (global). */
  desired: number;
  /** Live tasks: desired running and not ended. */
  tasks: number;
  running: number;
  /** Running tasks that pass their health check, or have none: those that can serve. */
  ready: number;
  /** Live tasks running the service's current spec (revision). */
  upToDate: number;
  /** Ready tasks, whatever revision they run. */
  available: number;
  /** The service's latest rollout. */
  update?: { state: string; message: string; revision: number };
}

export function isLive(t: Task): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}

export function serviceView(svc: Service, tasks: Task[], update?: UpdateStatus): Service & { status: ServiceStatusView } {
  const own = tasks.filter((t) => t.serviceName === svc.metadata.name && isLive(t));
  const desired = svc.spec.mode === 'global' ? own.length : (svc.spec.replicas ?? 1);
  const running = own.filter((t) => t.status.state === 'running').length;
  const ready = own.filter(isReady).length;
  const upToDate = own.filter((t) => !outdatedAgainst(t, svc)).length;
  const rollout = update ? { update: { state: update.state, message: update.message, revision: update.revision } } : {};
  return { ...svc, status: { desired, tasks: own.length, running, ready, upToDate, available: ready, ...rollout } };
}

/**
 * Whether a task runs an older spec than its service's, remembered per task object and service
 * version: the watch cache keeps task objects until they change, and comparing specs deeply for
 * every task of every list cost more than the rest of the list.
 */
const outdatedMemo = new WeakMap<Task, { version: number; outdated: boolean }>();

function outdatedAgainst(t: Task, svc: Service): boolean {
  const version = svc.metadata.version;
  const memo = outdatedMemo.get(t);
  if (memo && version !== undefined && memo.version === version) return memo.outdated;
  const outdated = isOutdated(t, svc.spec, svc.metadata.restartedAt);
  if (version !== undefined) outdatedMemo.set(t, { version, outdated });
  return outdated;
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
