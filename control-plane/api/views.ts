// What the API returns: stored objects plus status derived from the tasks (never stored twice).
import { JOB_DEFAULTS } from '../../common/jobs.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import { isReady } from '../../common/task-predicates.js';
import { countNode, countService, type ServiceCounts } from './task-counts.js';

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
  /** Jobs: completions of the current run, and its state. */
  completed?: number;
  job?: string;
}

/** A service as the API shows it, its status counted from `tasks` (its own; others are ignored). */
export function serviceView(svc: Service, tasks: Iterable<Task>, update?: UpdateStatus): ServiceWithStatus {
  return serviceViewOf(svc, countService(svc, tasks), update);
}

export type ServiceWithStatus = Service & { status: ServiceStatusView };

/** A service as the API shows it, from counts made against its version (see task-counts.ts). */
export function serviceViewOf(svc: Service, c: ServiceCounts, update?: UpdateStatus): ServiceWithStatus {
  const desired = svc.spec.mode === 'global' ? c.tasks : svc.spec.mode === 'job' ? (svc.spec.completions ?? JOB_DEFAULTS.completions) : (svc.spec.replicas ?? 1);
  const rollout = update ? { update: { state: update.state, message: update.message, revision: update.revision } } : {};
  const job = c.job !== undefined ? { completed: c.completed ?? 0, job: c.job } : {};
  return { ...svc, status: { desired, tasks: c.tasks, running: c.running, ready: c.ready, upToDate: c.upToDate, available: c.ready, ...rollout, ...job } };
}

export type NodeWithTasks = Node & { tasks: number };

export function nodeView(node: Node, tasks: Iterable<Task>): NodeWithTasks {
  return nodeViewOf(node, countNode(node.id, tasks));
}

export function nodeViewOf(node: Node, tasks: number): NodeWithTasks {
  return { ...node, tasks };
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
