// Reconciler of jobs (`spec.mode: job`, common/jobs.ts): runs `completions` slots to completion,
// at most `parallelism` tasks at once.
//
// The run is the tasks of the current spec; tasks of an older spec (the job was changed: a new
// run) are stopped and forgotten once gone. Per slot of the run: a complete task -> the slot is
// done, nothing starts there again; a live task -> it runs; no task, or one stopped by the
// system (node down, drained: a task on a draining node is stopped) -> a new task, if fewer than `parallelism` run; a task that failed
// by itself -> retried after its restart backoff while attempts remain. Once a slot's attempts
// are spent the job has failed: its live tasks are stopped and nothing new starts.
import { endedUnfinished, jobProgress, jobSettings, mayRetry } from '../../common/jobs.js';
import { JobState, type Service, type Task } from '../../common/types.js';
import { isLive, isOutdated } from '../../common/task-predicates.js';
import { drainingNodes, orphanTasksOfDownNodes, withoutOrphanedTwice } from './healing.js';
import { emptyPlan, mergePlans, newTask, Reason, type Plan, type PlanInput } from './plan.js';
import { rescheduled } from './replicated.js';
import { planRestart } from './restart.js';
import { HISTORY_PER_SLOT, isGone, newestFirst } from './rules.js';

export const JobReason = {
  JobFailed: 'the job failed: a task failed with no attempts left',
  NewRun: 'the job changed: a new run replaces this one',
} as const;

export function planJob(input: PlanInput & { service: Service }): Plan {
  const { service: svc, now } = input;
  const settings = jobSettings(svc.spec);
  const healing = orphanTasksOfDownNodes(input.tasks, input.nodes ?? [], now);
  const orphanedIds = new Set(healing.plan.orphan.map((o) => o.task.id));
  const draining = drainingNodes(input.nodes ?? []);
  const plan = emptyPlan();

  const run: Task[] = [];
  for (const t of healing.tasks) {
    if (!isOutdated(t, svc.spec, svc.metadata.restartedAt)) run.push(t);
    else if (isGone(t)) plan.remove.push(t);
    else if (t.desiredState === 'running') plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: JobReason.NewRun });
  }

  const bySlot = new Map<number, Task[]>();
  for (const t of run) {
    const list = bySlot.get(t.slot) ?? [];
    list.push(t);
    bySlot.set(t.slot, list);
  }
  for (const list of bySlot.values()) list.sort(newestFirst);

  const failed = jobProgress(settings, run).state === JobState.Failed;
  let running = run.filter((t) => isLive(t) && t.slot >= 1 && t.slot <= settings.completions).length;
  for (let slot = 1; slot <= settings.completions; slot++) {
    const list = bySlot.get(slot) ?? [];
    const ended = list.filter((t) => t.desiredState !== 'running' && isGone(t));
    plan.remove.push(...ended.slice(HISTORY_PER_SLOT));
    const [keep, ...extra] = list.filter(isLive);
    for (const t of extra) plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.Superseded });
    if (failed) {
      if (keep) plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: JobReason.JobFailed });
      continue;
    }
    if (keep?.nodeId && draining.has(keep.nodeId)) {
      // Moved off a draining node: its slot starts again elsewhere once it has stopped (not an attempt).
      plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.NodeDraining });
      continue;
    }
    if (keep || list.some((t) => t.status.state === 'complete')) continue;
    // A task still stopping (desired shutdown, not ended yet) holds its slot until it has.
    if (list.some((t) => t.desiredState !== 'running' && !isGone(t))) continue;
    if (running >= settings.parallelism) continue;
    const last = list[0];
    if (!last || last.desiredState !== 'running') {
      const task = newTask(svc, { slot }, now);
      plan.create.push(task);
      if (last && orphanedIds.has(last.id)) plan.events.push(rescheduled(task, last));
      running++;
    } else if (endedUnfinished(last) && mayRetry(settings, last)) {
      // Every failure counts towards the attempts (no reset after a long run, unlike services).
      if (planRestart(svc, last, { slot }, now, plan, input.backoff, { restarts: (last.restarts ?? 0) + 1 })) running++;
    }
  }

  for (const [slot, list] of bySlot) {
    if (slot >= 1 && slot <= settings.completions) continue;
    for (const t of list) {
      if (isGone(t)) plan.remove.push(t);
      else if (t.desiredState === 'running') plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.ScaledDown });
    }
  }
  return withoutOrphanedTwice(mergePlans(healing.plan, plan));
}
