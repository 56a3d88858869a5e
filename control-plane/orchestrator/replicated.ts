// Reconciler of replicated services: keeps exactly `replicas` live tasks, one per slot 1..N.
//
// Per slot: no live task -> create one (unless the restart policy says the ended one stays
// ended); more than one -> keep the newest; a live task running an outdated spec -> stopped
// (stop-first, at most `update.parallelism` slots at a time) and recreated once it has ended.
// Slots above N -> shut down, then removed when gone. Ended tasks are kept as a short history.
import type { Service, Task } from '../../common/types.js';
import { emptyPlan, newTask, Reason, type Plan } from './plan.js';
import { HISTORY_PER_SLOT, isGone, isLive, isOutdated, newestFirst, shouldRestart } from './rules.js';

export function planReplicated(svc: Service, tasks: Task[], now: string): Plan {
  const plan = emptyPlan();
  const replicas = svc.spec.replicas ?? 1;
  const bySlot = new Map<number, Task[]>();
  for (const t of tasks) {
    const list = bySlot.get(t.slot) ?? [];
    list.push(t);
    bySlot.set(t.slot, list);
  }
  for (const list of bySlot.values()) list.sort(newestFirst);

  const parallelism = svc.spec.update?.parallelism || Infinity;
  let updating = 0;
  for (let slot = 1; slot <= replicas; slot++) {
    if (isUpdating(bySlot.get(slot) ?? [], svc)) updating++;
  }

  for (let slot = 1; slot <= replicas; slot++) {
    const list = bySlot.get(slot) ?? [];
    const [keep, ...extra] = list.filter(isLive);
    for (const t of extra) plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.Superseded });
    if (keep) {
      if (isOutdated(keep, svc.spec) && updating < parallelism) {
        plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.Updated });
        updating++;
      }
    } else if (!list.some((t) => t.desiredState !== 'running' && !isGone(t))) {
      // Nothing runs in this slot and nothing is still stopping (stop-first).
      const last = list[0];
      if (!last || last.desiredState !== 'running') {
        plan.create.push(newTask(svc, { slot }, now));
      } else if (shouldRestart(svc.spec, last, list.length)) {
        // The task ended by itself: replace it and keep it as history.
        plan.create.push(newTask(svc, { slot }, now));
        plan.shutdown.push({ task: last, desiredState: 'shutdown', reason: Reason.Superseded });
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
  return plan;
}

/**
 * A slot is being updated while an outdated task is still stopping, or while its new task is
 * not yet running after an outdated one: stop-first updates take `parallelism` slots at a time.
 */
function isUpdating(list: Task[], svc: Service): boolean {
  if (list.some((t) => t.desiredState !== 'running' && !isGone(t) && isOutdated(t, svc.spec))) return true;
  const live = list.find(isLive);
  return !!live && live.status.state !== 'running' && !isOutdated(live, svc.spec) && list.some((t) => t !== live && isOutdated(t, svc.spec));
}

/** The service is gone: every task is told to go away and is forgotten once nothing runs. */
export function planDeleted(tasks: Task[]): Plan {
  const plan = emptyPlan();
  for (const t of tasks) {
    if (isGone(t)) plan.remove.push(t);
    else if (t.desiredState !== 'remove') plan.shutdown.push({ task: t, desiredState: 'remove', reason: Reason.ServiceDeleted });
  }
  return plan;
}
