// Small shared rules of the reconcilers: liveness, restart policy, what counts as "outdated".
import { isDeepStrictEqual } from 'node:util';
import { isTerminal, type ServiceSpec, type Task } from '../../common/types.js';

/** How many ended tasks to keep per slot so users can see why a slot restarted. */
export const HISTORY_PER_SLOT = 3;

/** Desired to run and not ended: this task holds (or will hold) its slot. */
export function isLive(t: Task): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}

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

/** The parts of a spec whose change needs a new container (not replicas, update settings, history). */
function runtimeSpec(spec: ServiceSpec): Omit<ServiceSpec, 'replicas' | 'update' | 'restartPolicy' | 'revisionHistoryLimit'> {
  const { replicas: _r, update: _u, restartPolicy: _p, revisionHistoryLimit: _h, ...rest } = spec;
  return rest;
}

/**
 * A task runs an outdated spec when its runtime parts differ, or when the service was restarted
 * (`rollout restart`, `metadata.restartedAt`) after the task was created.
 */
export function isOutdated(task: Task, spec: ServiceSpec, restartedAt?: string): boolean {
  if ((task.restartedAt ?? '') !== (restartedAt ?? '')) return true;
  return !sameRuntime(task.spec, spec);
}

// Spec objects from the caches are never changed in place (a change is a new object), so the
// comparison of two of them is remembered: a plan compares every task's spec with the service's,
// pass after pass, and the deep comparison was most of a plan's cost.
const sameRuntimeMemo = new WeakMap<ServiceSpec, WeakMap<ServiceSpec, boolean>>();

function sameRuntime(a: ServiceSpec, b: ServiceSpec): boolean {
  if (a === b) return true;
  let memo = sameRuntimeMemo.get(a);
  if (!memo) sameRuntimeMemo.set(a, (memo = new WeakMap()));
  let same = memo.get(b);
  if (same === undefined) {
    same = isDeepStrictEqual(runtimeSpec(a), runtimeSpec(b));
    memo.set(b, same);
  }
  return same;
}

/** Running, and healthy if the spec it runs has a health check: it can serve. */
export function isReady(t: Task): boolean {
  if (t.status.state !== 'running') return false;
  return !t.spec.healthCheck || t.status.health === 'healthy';
}

/** A stopped task may be deleted once nothing of it runs, or if it never reached a node. */
export function isGone(t: Task): boolean {
  return isTerminal(t.status.state) || !t.nodeId || t.status.state === 'pending';
}

export function newestFirst(a: Task, b: Task): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}
