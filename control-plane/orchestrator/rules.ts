// Small shared rules of the reconcilers: restart policy, history, what may be deleted. (Whether
// a task is live, ready or outdated is common/task-predicates.ts.)
import { isTerminal, type ServiceSpec, type Task } from '../../common/types.js';

/** How many ended tasks to keep per slot so users can see why a slot restarted. */
export const HISTORY_PER_SLOT = 3;

/**
 * Whether an ended task should be replaced in its slot, by the service's restart policy;
 * `restarts` is the crash-loop count the replacement would carry (see backoff.ts).
 */
export function shouldRestart(spec: ServiceSpec, ended: Task, restarts: number): boolean {
  const policy = spec.restartPolicy ?? {};
  const condition = policy.condition ?? 'any';
  if (condition === 'none') return false;
  if (condition === 'on-failure' && ended.status.state === 'complete') return false;
  if (policy.maxAttempts && restarts > policy.maxAttempts) return false;
  return true;
}

/** A stopped task may be deleted once nothing of it runs, or if it never reached a node. */
export function isGone(t: Task): boolean {
  return isTerminal(t.status.state) || !t.nodeId || t.status.state === 'pending';
}

/** Newest first (common/task-predicates.ts): the planners sort each slot's tasks with it. */
export { newestFirst } from '../../common/task-predicates.js';
