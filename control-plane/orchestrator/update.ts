// Rolling updates, the pure part: given a replicated service, its tasks per slot and the state of
// its rollout (`updates/<service>`), decide which outdated slots are replaced in this pass and
// how the rollout's state moves on. No I/O: the loop writes the plan and the next state.
//
// A rollout goes step by step: a step takes up to `parallelism` outdated slots; the next step
// starts once every slot of this one is updated (its new task ready for `monitorSeconds`) or
// failed, and `delaySeconds` have passed. A new task fails when it ends by itself, turns
// unhealthy, or is not ready before the progress deadline. When failures exceed
// `maxFailureRatio` of the slots, `failureAction` says: pause, rollback (the loop then writes the
// previous revision's spec), or continue. Everything the rollout must remember (steps, per-task
// monitoring, failures) is in its state, so a restarted control plane resumes where it stopped:
// which slots are done is read from the tasks themselves.
import { SPEC_DEFAULTS } from '../../common/manifest/schema.js';
import { isActive, UpdateState, type UpdateStatus, type UpdateTaskRecord } from '../../common/rollout.js';
import { isTerminal, type Service, type ServiceSpec, type Task } from '../../common/types.js';
import { EventReason, type Plan } from './plan.js';
import { isGone } from './rules.js';
import { isLive, isOutdated, isReady } from '../../common/task-predicates.js';

export interface UpdateSettings {
  /** Slots per step (Infinity for `parallelism: 0`). */
  parallelism: number;
  delayMs: number;
  monitorMs: number;
  maxFailureRatio: number;
  failureAction: 'pause' | 'rollback' | 'continue';
  order: 'stop-first' | 'start-first';
  /** A new task not ready this long after its creation has failed. */
  deadlineMs: number;
}

/** Failed task records kept per rollout (each failure is counted in `failures` anyway). */
const MAX_FAILED_RECORDS = 50;

export function updateSettings(spec: ServiceSpec): UpdateSettings {
  const u = { ...SPEC_DEFAULTS.update, ...spec.update };
  return {
    parallelism: u.parallelism || Infinity,
    delayMs: u.delaySeconds * 1000,
    monitorMs: u.monitorSeconds * 1000,
    maxFailureRatio: u.maxFailureRatio,
    failureAction: u.failureAction,
    order: u.order,
    deadlineMs: progressDeadlineSeconds(spec) * 1000,
  };
}

/** `update.progressDeadlineSeconds`, or max(60 s, 10 x monitorSeconds). */
export function progressDeadlineSeconds(spec: ServiceSpec): number {
  const monitor = spec.update?.monitorSeconds ?? SPEC_DEFAULTS.update.monitorSeconds;
  return spec.update?.progressDeadlineSeconds ?? Math.max(60, 10 * monitor);
}

/** A fresh rollout of the service's current revision. */
export function newUpdateStatus(svc: Service, now: string, from: Partial<UpdateStatus> = {}): UpdateStatus {
  const revision = svc.metadata.revision ?? 0;
  return {
    service: svc.metadata.name,
    state: UpdateState.Updating,
    revision,
    startedAt: now,
    updatedAt: now,
    steps: 0,
    failures: 0,
    tasks: {},
    message: `rolling out revision ${revision}`,
    ...from,
  };
}

export interface RolloutPass {
  /** Outdated slots whose task is replaced in this pass. */
  replace: Set<number>;
  settings: UpdateSettings;
  /** Start-first order: an old task keeps running until its replacement is ready. */
  startFirst: boolean;
}

export interface RolloutInput {
  svc: Service;
  /** Tasks per slot, newest first. */
  bySlot: ReadonlyMap<number, Task[]>;
  replicas: number;
  update: UpdateStatus | undefined;
  now: string;
  /** Slots the drain logic moves this pass: not the rollout's to touch. */
  isDraining?: (t: Task) => boolean;
}

/**
 * Plans one pass of the rollout of a replicated service: records in `plan` the next rollout
 * state (`plan.update`, only when it changed), a rollback request, events and a wake-up time;
 * returns the slots whose outdated task may be replaced now.
 */
export function planRollout(input: RolloutInput, plan: Plan): RolloutPass {
  const { svc, bySlot, replicas, now } = input;
  const settings = updateSettings(svc.spec);
  const revision = svc.metadata.revision ?? 0;
  const outdated = (t: Task) => isOutdated(t, svc.spec, svc.metadata.restartedAt);
  const pass: RolloutPass = { replace: new Set(), settings, startFirst: settings.order === 'start-first' };
  const nowMs = Date.parse(now);
  const wake = (ms: number) => {
    if (ms > nowMs && (plan.wakeAt === undefined || ms < plan.wakeAt)) plan.wakeAt = ms;
  };

  let status = input.update;
  let changed = false;
  const hasOutdated = [...bySlot.values()].some((list) => list.some((t) => isLive(t) && outdated(t)));
  if (!status || (status.revision !== revision && hasOutdated)) {
    if (!hasOutdated) return pass;
    status = newUpdateStatus(svc, now, status ? { previousRevision: status.revision } : {});
    changed = true;
  } else {
    status = { ...status, tasks: { ...status.tasks } };
  }
  if (status.revision !== revision || !isActive(status.state)) {
    if (changed) plan.update = status;
    return pass;
  }
  const st = status;
  const isNew = (t: Task) => !outdated(t) && t.createdAt >= st.startedAt;
  const event = (type: 'Normal' | 'Warning', reason: string, message: string) =>
    plan.events.push({ type, reason, object: { kind: 'service', name: svc.metadata.name }, service: svc.metadata.name, message });

  // 1. Monitor the new tasks: ready long enough, failed, or still to watch.
  let lastFailure = '';
  const seen = new Set<string>();
  for (let slot = 1; slot <= replicas; slot++) {
    for (const t of bySlot.get(slot) ?? []) {
      if (!isNew(t)) continue;
      seen.add(t.id);
      const rec: UpdateTaskRecord = { ...(st.tasks[t.id] ?? { slot }) };
      if (rec.passed || rec.failed) continue;
      const failure = failureOf(t, nowMs, settings);
      if (failure) {
        rec.failed = failure;
        delete rec.readySince;
        st.failures++;
        lastFailure = failure;
        plan.events.push({ type: 'Warning', reason: EventReason.UpdateTaskFailed, object: { kind: 'task', name: t.name, id: t.id }, service: svc.metadata.name, message: `rollout of revision ${revision}: ${failure}` });
      } else if (t.desiredState !== 'running') {
        continue;
      } else if (isReady(t)) {
        rec.readySince ??= now;
        const doneAt = Date.parse(rec.readySince) + settings.monitorMs;
        if (nowMs >= doneAt) rec.passed = true;
        else wake(doneAt);
      } else {
        delete rec.readySince;
        wake(Date.parse(t.createdAt) + settings.deadlineMs + 1);
      }
      if (!isDeepEqualRecord(st.tasks[t.id], rec)) {
        st.tasks[t.id] = rec;
        changed = true;
      }
    }
  }
  // Forget tasks that are gone, except failures (they mark their slot as failed in this rollout).
  const failedIds = Object.keys(st.tasks).filter((id) => st.tasks[id]?.failed);
  for (const id of Object.keys(st.tasks)) {
    if (seen.has(id)) continue;
    if (st.tasks[id]?.failed && failedIds.indexOf(id) >= failedIds.length - MAX_FAILED_RECORDS) continue;
    delete st.tasks[id];
    changed = true;
  }

  // 2. Too many failures: the failure action.
  const total = Math.max(1, replicas);
  if (st.state === UpdateState.Updating && st.failures > 0 && st.failures > settings.maxFailureRatio * total && settings.failureAction !== 'continue') {
    const why = `${st.failures}/${total} new tasks failed (${lastFailure || 'see events'})`;
    if (settings.failureAction === 'rollback' && st.previousRevision !== undefined) {
      plan.rollback = { toRevision: st.previousRevision, reason: why };
      plan.update = { ...st, updatedAt: now, message: `rolling back: ${why}` };
      return pass;
    }
    const noPrevious = settings.failureAction === 'rollback' ? '; no previous revision to roll back to' : '';
    plan.update = { ...st, state: UpdateState.Paused, updatedAt: now, message: `paused: ${why}${noPrevious}; run rollout resume or undo` };
    event('Warning', EventReason.UpdatePaused, `update to revision ${revision} paused: ${why}${noPrevious}`);
    return pass;
  }

  // 3. Slots in flight (in the current step) and slots still to replace.
  const failedSlots = new Set(Object.values(st.tasks).filter((r) => r.failed).map((r) => r.slot));
  let inFlight = 0;
  const candidates: number[] = [];
  for (let slot = 1; slot <= replicas; slot++) {
    if (failedSlots.has(slot)) continue;
    const list = bySlot.get(slot) ?? [];
    const keep = list.find(isLive);
    if (list.some((t) => t.desiredState !== 'running' && !isGone(t) && outdated(t))) inFlight++;
    else if (!keep) {
      const last = list[0];
      if (!last || !(last.desiredState === 'running' && isTerminal(last.status.state))) inFlight++;
    } else if (outdated(keep)) {
      if (!input.isDraining?.(keep)) candidates.push(slot);
    } else if (isNew(keep) && !st.tasks[keep.id]?.passed) inFlight++;
  }

  // 4. Next step, or done.
  if (inFlight === 0) {
    if (!candidates.length) {
      const rollingBack = st.state === UpdateState.RollingBack;
      const failed = st.failures ? ` (${st.failures} new tasks failed)` : '';
      const message = rollingBack ? `rolled back to revision ${revision}${failed}` : `revision ${revision} rolled out${failed}`;
      plan.update = { ...st, state: rollingBack ? UpdateState.RolledBack : UpdateState.Completed, completedAt: now, updatedAt: now, stepDoneAt: undefined, tasks: {}, message };
      event('Normal', rollingBack ? EventReason.RolledBack : EventReason.UpdateCompleted, message);
      return pass;
    }
    if (st.steps > 0 && !st.stepDoneAt) {
      st.stepDoneAt = now;
      changed = true;
    }
    const readyAt = st.steps === 0 || !st.stepDoneAt ? 0 : Date.parse(st.stepDoneAt) + settings.delayMs;
    if (nowMs >= readyAt) {
      const take = candidates.slice(0, settings.parallelism === Infinity ? candidates.length : settings.parallelism);
      for (const slot of take) pass.replace.add(slot);
      st.steps++;
      delete st.stepDoneAt;
      st.message = `${st.state === UpdateState.RollingBack ? 'rolling back to' : 'rolling out'} revision ${revision}: step ${st.steps}, slots ${take.join(',')}`;
      changed = true;
      if (st.steps === 1 && st.state === UpdateState.Updating) {
        event('Normal', EventReason.UpdateStarted, `rolling out revision ${revision}${st.cause ? ` (${st.cause})` : ''}: ${candidates.length} tasks, ${take.length} at a time, ${settings.order}`);
      }
    } else {
      wake(readyAt);
    }
  }
  if (changed) plan.update = { ...st, updatedAt: now };
  return pass;
}

/** Why a new task of the rollout failed, or undefined while it has not. */
function failureOf(t: Task, nowMs: number, settings: UpdateSettings): string | undefined {
  if (t.desiredState === 'running' && isTerminal(t.status.state)) {
    const exit = t.status.exitCode !== undefined ? ` with exit code ${t.status.exitCode}` : '';
    return `${t.name} ${t.status.state}${exit}${t.status.message ? `: ${t.status.message}` : ''}`;
  }
  if (t.desiredState === 'running' && t.status.health === 'unhealthy') {
    return `${t.name} unhealthy${t.status.lastProbe ? `: ${t.status.lastProbe.message}` : ''}`;
  }
  if (t.desiredState === 'running' && !isReady(t) && nowMs - Date.parse(t.createdAt) > settings.deadlineMs) {
    const s = Math.round(settings.deadlineMs / 1000);
    return `${t.name} not ready after ${s}s (${t.status.state}${t.status.message ? `: ${t.status.message}` : ''})`;
  }
  return undefined;
}

function isDeepEqualRecord(a: UpdateTaskRecord | undefined, b: UpdateTaskRecord): boolean {
  return !!a && a.slot === b.slot && a.readySince === b.readySince && a.passed === b.passed && a.failed === b.failed;
}

/**
 * Global services are replaced node by node as before (stop-first, one pass each), without
 * monitoring: their rollout state only says when no task of an older spec is left.
 */
export function planGlobalRollout(svc: Service, tasks: readonly Task[], update: UpdateStatus | undefined, now: string, plan: Plan): void {
  const revision = svc.metadata.revision ?? 0;
  const outdated = (t: Task) => isOutdated(t, svc.spec, svc.metadata.restartedAt);
  const pending = tasks.some((t) => (isLive(t) || (t.desiredState !== 'running' && !isGone(t))) && outdated(t));
  let status = update;
  if (!status || (status.revision !== revision && pending)) {
    if (!pending) return;
    status = newUpdateStatus(svc, now, status ? { previousRevision: status.revision } : {});
    plan.update = status;
  }
  if (status.revision !== revision || !isActive(status.state) || pending) return;
  const rollingBack = status.state === UpdateState.RollingBack;
  const message = rollingBack ? `rolled back to revision ${revision}` : `revision ${revision} rolled out`;
  plan.update = { ...status, state: rollingBack ? UpdateState.RolledBack : UpdateState.Completed, completedAt: now, updatedAt: now, tasks: {}, message };
  plan.events.push({
    type: 'Normal',
    reason: rollingBack ? EventReason.RolledBack : EventReason.UpdateCompleted,
    object: { kind: 'service', name: svc.metadata.name },
    service: svc.metadata.name,
    message,
  });
}
