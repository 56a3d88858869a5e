// The start gate of `spec.dependsOn`: a pending task of a service is not placed until every
// service it depends on is started (a task running), healthy (a task running and healthy, or
// running when the service has no health check) or completed (its job's current run complete),
// as compose's `depends_on` conditions `service_started`, `service_healthy` and
// `service_completed_successfully` ask. Pure: the scheduler hands in the tasks of each service.
//
// Owns: the judgment of a dependency from its service's tasks and the words of a waiting task.
// Must not: read the store or the clock, or decide placement (placement.ts does, for the tasks
// this lets through).
import { jobProgress, jobSettings } from '../../common/jobs.js';
import { isReady } from '../../common/task-predicates.js';
import { JobState, type DependsOnSpec, type Task } from '../../common/types.js';
import type { Unplaceable } from './placement.js';

/** `status.reason` of a pending task held back by `spec.dependsOn`. */
export const WAITING_FOR_DEPENDENCY = 'WaitingForDependency';

export interface DependencyState {
  /** The service has tasks at all (one without, or not created yet, is waited for). */
  exists: boolean;
  /** Tasks running (desired running). */
  running: number;
  /** Running tasks that are healthy, or have no health check. */
  ready: number;
  /** The current run of the service completed (every completion done). */
  completed: boolean;
}

/** The tasks of one service, as a dependency sees them. */
export function dependencyState(tasks: Iterable<Task>): DependencyState {
  let exists = false;
  let running = 0;
  let ready = 0;
  let revision = -Infinity;
  const all: Task[] = [];
  for (const t of tasks) {
    exists = true;
    all.push(t);
    revision = Math.max(revision, t.revision ?? t.serviceVersion);
    if (t.desiredState !== 'running' || t.status.state !== 'running') continue;
    running++;
    if (isReady(t)) ready++;
  }
  // A run is the tasks of the newest spec: older runs' tasks do not count towards it.
  const current = all.filter((t) => (t.revision ?? t.serviceVersion) === revision);
  const completed = current.length > 0 && jobProgress(jobSettings(current[0]!.spec), current).state === JobState.Complete;
  return { exists, running, ready, completed };
}

/** Why `dep` is not met yet, or undefined when it is. */
export function unmetReason(dep: DependsOnSpec, state: DependencyState): string | undefined {
  if (!state.exists) return `service ${dep.service} (no tasks yet)`;
  switch (dep.condition ?? 'started') {
    case 'started':
      return state.running > 0 ? undefined : `service ${dep.service} to start (0 running)`;
    case 'healthy':
      return state.ready > 0 ? undefined : `service ${dep.service} to be healthy (${state.running} running, 0 healthy)`;
    case 'completed':
      return state.completed ? undefined : `service ${dep.service} to complete`;
  }
}

export interface GateResult {
  /** The tasks free to be placed. */
  free: Task[];
  /** The tasks held back, with their explanation. */
  waiting: Unplaceable[];
  /** The services that held tasks back wait on: a change of their tasks is worth a pass. */
  awaited: Set<string>;
}

/**
 * Splits pending tasks into those whose dependencies are met and those held back.
 * `tasksOf` gives a service's tasks; it is asked once per dependency service per call.
 */
export function gateTasks(pending: readonly Task[], tasksOf: (service: string) => Iterable<Task>): GateResult {
  const states = new Map<string, DependencyState>();
  const stateOf = (service: string): DependencyState => {
    let s = states.get(service);
    if (!s) states.set(service, (s = dependencyState(tasksOf(service))));
    return s;
  };
  const out: GateResult = { free: [], waiting: [], awaited: new Set() };
  for (const task of pending) {
    const deps = task.spec.dependsOn ?? [];
    const unmet: string[] = [];
    for (const dep of deps) {
      const why = unmetReason(dep, stateOf(dep.service));
      if (why === undefined) continue;
      unmet.push(why);
      out.awaited.add(dep.service);
    }
    if (unmet.length === 0) out.free.push(task);
    else out.waiting.push({ taskId: task.id, message: `waiting for ${unmet.join(', ')}`, reason: WAITING_FOR_DEPENDENCY });
  }
  return out;
}

/** Whether a change of a dependency's task can change a gate's verdict. */
export function dependencyChangeMatters(previous: Task | undefined, next: Task | undefined): boolean {
  if (!previous || !next) return true;
  return (
    previous.status.state !== next.status.state ||
    previous.status.health !== next.status.health ||
    previous.desiredState !== next.desiredState
  );
}
