// Reconciler of replicated services: keeps exactly `replicas` live tasks, one per slot 1..N.
//
// Per slot: no live task -> create one (unless the restart policy says the ended one stays
// ended); more than one -> keep the newest (start-first: the old one stays until its
// replacement is ready); a live task running an outdated spec -> replaced when the rollout
// (update.ts) takes its slot: stop-first (stopped, recreated once it has ended) or start-first
// (a new task beside it). Slots above N -> shut down, then removed when gone. Ended tasks are
// kept as a short history.
//
// Node health comes first: tasks of a `down` node are orphaned and their slots refilled at once
// (no backoff); live tasks of a draining node are moved like a stop-first update, at most
// `update.parallelism` (default 1) slots at a time, the next one only once the previous
// replacement runs. A task that ended by itself is replaced after its restart backoff.
import type { Service, Task } from '../../common/types.js';
import { drainingNodes, isMoving, orphanTasksOfDownNodes, withoutOrphanedTwice } from './healing.js';
import { emptyPlan, EventReason, mergePlans, newTask, Reason, type Plan, type PlanInput } from './plan.js';
import { planRestart } from './restart.js';
import { HISTORY_PER_SLOT, isGone, newestFirst } from './rules.js';
import { isLive, isOutdated, isReady } from '../../common/task-predicates.js';
import { planRollout } from './update.js';

/** Orphans, then the rollout's pass, then the slots: one plan of three merged parts. */
export function planReplicated(input: PlanInput & { service: Service }): Plan {
  const { service: svc, now } = input;
  const nodes = input.nodes ?? [];
  const healing = orphanTasksOfDownNodes(input.tasks, nodes, now);
  const tasks = healing.tasks;
  const orphanedIds = new Set(healing.plan.orphan.map((o) => o.task.id));
  const draining = drainingNodes(nodes);
  const replicas = svc.spec.replicas ?? 1;
  const bySlot = new Map<number, Task[]>();
  for (const t of tasks) {
    const list = bySlot.get(t.slot) ?? [];
    list.push(t);
    bySlot.set(t.slot, list);
  }
  for (const list of bySlot.values()) list.sort(newestFirst);

  const drainParallelism = svc.spec.update?.parallelism || 1;
  let moving = 0;
  for (let slot = 1; slot <= replicas; slot++) {
    const list = bySlot.get(slot) ?? [];
    if (draining.size && isMoving(list, draining, isLive)) moving++;
  }
  const { pass: rollout, plan: rolloutPlan } = planRollout({
    svc,
    bySlot,
    replicas,
    update: input.update,
    now,
    isDraining: (t) => !!t.nodeId && draining.has(t.nodeId),
  });
  const plan = emptyPlan();
  const outdated = (t: Task) => isOutdated(t, svc.spec, svc.metadata.restartedAt);

  for (let slot = 1; slot <= replicas; slot++) {
    const list = bySlot.get(slot) ?? [];
    const [keep, ...extra] = list.filter(isLive);
    let serving = false;
    for (const t of extra) {
      // Start-first: the old task serves until its replacement is ready; one old task only
      // (the newest): an old twin beside it is shut down.
      if (!serving && rollout.startFirst && keep && !outdated(keep) && outdated(t) && !isReady(keep)) {
        serving = true;
        continue;
      }
      plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: outdated(t) && keep && !outdated(keep) ? Reason.UpdatedStartFirst : Reason.Superseded });
    }
    if (keep) {
      const drainFrom = keep.nodeId ? draining.get(keep.nodeId) : undefined;
      if (drainFrom && moving < drainParallelism) {
        plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.NodeDraining });
        plan.events.push({
          type: 'Normal',
          reason: EventReason.TaskMoved,
          object: { kind: 'task', name: keep.name, id: keep.id },
          message: `stopping on draining node ${drainFrom.name}; slot ${slot} is rescheduled once it has stopped`,
          service: svc.metadata.name,
        });
        moving++;
      } else if (!drainFrom && rollout.replace.has(slot)) {
        if (rollout.startFirst) plan.create.push(newTask(svc, { slot }, now));
        else plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.Updated });
      }
    } else if (!list.some((t) => t.desiredState !== 'running' && !isGone(t))) {
      // Nothing runs in this slot and nothing is still stopping (stop-first).
      const last = list[0];
      if (!last || last.desiredState !== 'running') {
        const task = newTask(svc, { slot }, now);
        plan.create.push(task);
        if (last && orphanedIds.has(last.id)) plan.events.push(rescheduled(task, last));
      } else {
        // The task ended by itself: replace it (after its backoff) and keep it as history.
        planRestart(svc, last, { slot }, now, plan, input.backoff);
      }
    }
    const ended = list.filter((t) => t.desiredState !== 'running' && isGone(t));
    plan.remove.push(...ended.slice(HISTORY_PER_SLOT));
  }

  for (const [slot, list] of bySlot) {
    if (slot >= 1 && slot <= replicas) continue;
    for (const t of list) {
      if (isLive(t)) plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.ScaledDown });
      else if (isGone(t)) plan.remove.push(t);
      else if (t.desiredState === 'running') plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.ScaledDown });
    }
  }
  return withoutOrphanedTwice(mergePlans(mergePlans(healing.plan, rolloutPlan), plan));
}

export function rescheduled(task: Task, orphaned: Task): Plan['events'][number] {
  return {
    type: 'Normal',
    reason: EventReason.Rescheduled,
    object: { kind: 'task', name: task.name, id: task.id },
    message: `replaces ${orphaned.name}, orphaned on a node that is down`,
    service: task.serviceName,
  };
}

/** The service is gone: every task is told to go away and is forgotten once nothing runs. */
export function planDeleted(input: PlanInput): Plan {
  const plan = emptyPlan();
  for (const t of input.tasks) {
    if (isGone(t)) plan.remove.push(t);
    else if (t.desiredState !== 'remove') plan.shutdown.push({ task: t, desiredState: 'remove', reason: Reason.ServiceDeleted });
  }
  return plan;
}
