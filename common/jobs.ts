// Jobs: services whose tasks run to completion (`spec.mode: job`). The rules that both the
// orchestrator (what to start) and the API (what to show) read: how many completions, how many
// tasks at once, how many attempts a completion gets, and the state of a run.
//
// A run is the tasks of the job's current spec: `completions` slots, each done once one of its
// tasks exits 0 (state `complete`). A task that fails is retried in its slot (restart backoff)
// until `restartPolicy.maxAttempts` retries are spent (default 6 for jobs; 0 = no limit, as for
// other services; condition `none`: no retry); then the job has failed. Nothing restarts a
// complete slot, and a changed spec (`berth apply`, `rollout restart`) starts a new run.
import { newestFirst } from './task-predicates.js';
import { isTerminal, JobState, type ServiceSpec, type Task } from './types.js';

export const JOB_DEFAULTS = { completions: 1, parallelism: 1, condition: 'on-failure', maxAttempts: 6 } as const;

export interface JobSettings {
  completions: number;
  parallelism: number;
  /** Whether a failed task is retried at all. */
  retry: boolean;
  /** Retries per completion; 0: no limit. */
  maxAttempts: number;
}

export function jobSettings(spec: ServiceSpec): JobSettings {
  const policy = spec.restartPolicy ?? {};
  return {
    completions: spec.completions ?? JOB_DEFAULTS.completions,
    parallelism: spec.parallelism ?? JOB_DEFAULTS.parallelism,
    retry: (policy.condition ?? JOB_DEFAULTS.condition) !== 'none',
    maxAttempts: policy.maxAttempts ?? JOB_DEFAULTS.maxAttempts,
  };
}

/** A job's task ended without completing: whether its slot gets another attempt. */
export function mayRetry(settings: JobSettings, ended: Task): boolean {
  if (!settings.retry) return false;
  return settings.maxAttempts === 0 || (ended.restarts ?? 0) < settings.maxAttempts;
}

/** The task ended by itself without completing, and is still the one its slot wanted running. */
export function endedUnfinished(t: Task): boolean {
  return t.desiredState === 'running' && isTerminal(t.status.state) && t.status.state !== 'complete';
}

export interface JobProgress {
  completed: number;
  state: JobState;
  /** The slot whose attempts are spent, when the job failed. */
  failedSlot?: number;
}

/** The progress of a run, from its tasks (those of the current spec; others are ignored by slot range only). */
export function jobProgress(settings: JobSettings, tasks: Iterable<Task>): JobProgress {
  const newest = new Map<number, Task>();
  const done = new Set<number>();
  for (const t of tasks) {
    if (t.slot < 1 || t.slot > settings.completions) continue;
    if (t.status.state === 'complete') done.add(t.slot);
    const cur = newest.get(t.slot);
    if (!cur || newestFirst(t, cur) < 0) newest.set(t.slot, t);
  }
  let failedSlot: number | undefined;
  for (const [slot, t] of newest) {
    if (!done.has(slot) && endedUnfinished(t) && !mayRetry(settings, t)) failedSlot = Math.min(failedSlot ?? slot, slot);
  }
  const completed = done.size;
  const state = failedSlot !== undefined ? JobState.Failed : completed >= settings.completions ? JobState.Complete : JobState.Running;
  return { completed, state, ...(failedSlot !== undefined ? { failedSlot } : {}) };
}
