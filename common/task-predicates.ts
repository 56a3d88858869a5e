// What a task is, judged from the task alone (and the spec it should run): live, ready,
// outdated. Shared by the orchestrator (plans), the scheduler (usage) and the API (counts, logs).
import { isDeepStrictEqual } from 'node:util';
import { isTerminal, type ServiceSpec, type Task } from './types.js';

/** Desired to run and not ended: this task holds (or will hold) its slot, placed or not. */
export function isLive(t: Task): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}

/** Running, and healthy if the spec it runs has a health check: it can serve. */
export function isReady(t: Task): boolean {
  if (t.status.state !== 'running') return false;
  return !t.spec.healthCheck || t.status.health === 'healthy';
}

/**
 * A task runs an outdated spec when its runtime parts differ, or when the service was restarted
 * (`rollout restart`, `metadata.restartedAt`) after the task was created.
 */
export function isOutdated(task: Task, spec: ServiceSpec, restartedAt?: string): boolean {
  if ((task.restartedAt ?? '') !== (restartedAt ?? '')) return true;
  return !sameRuntime(task.spec, spec);
}

/**
 * The parts of a spec whose change needs a new container (not replicas, a job's completions and
 * parallelism, update settings, history).
 */
function runtimeSpec(spec: ServiceSpec): Omit<ServiceSpec, 'replicas' | 'completions' | 'parallelism' | 'update' | 'restartPolicy' | 'revisionHistoryLimit'> {
  const { replicas: _r, completions: _c, parallelism: _n, update: _u, restartPolicy: _p, revisionHistoryLimit: _h, ...rest } = spec;
  return rest;
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

/** Orders tasks newest first: by creation time, then id (a slot's current task comes first). */
export function newestFirst(a: Task, b: Task): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}
