// The phases of one rollout pass (update.ts composes them), each pure and returning what it
// decided: assess the new tasks (ready long enough, failed, still watched) -> decide the state
// transition (too many failures: pause or roll back) -> assess the slots (in flight, still to
// replace) -> pick the next step (done, a step of `parallelism` slots, or wait out the delay).
import { isActive, UpdateState, type UpdateStatus, type UpdateTaskRecord } from '../../common/rollout.js';
import { isTerminal, type Service, type Task } from '../../common/types.js';
import { emptyPlan, EventReason, type Plan } from './plan.js';
import { isGone } from './rules.js';
import { isLive, isOutdated, isReady } from '../../common/task-predicates.js';
import type { UpdateSettings } from './update.js';

/** Failed task records kept per rollout (each failure is counted in `failures` anyway). */
const MAX_FAILED_RECORDS = 50;

/** What every phase reads: the service, its tasks per slot (newest first) and the time. */
export interface RolloutView {
  svc: Service;
  bySlot: ReadonlyMap<number, Task[]>;
  replicas: number;
  settings: UpdateSettings;
  now: string;
  nowMs: number;
}

const revisionOf = (v: RolloutView) => v.svc.metadata.revision ?? 0;
const outdatedIn = (v: RolloutView) => (t: Task) => isOutdated(t, v.svc.spec, v.svc.metadata.restartedAt);
/** A task of this rollout: current spec, created since it started. */
const isNewIn = (v: RolloutView, st: UpdateStatus) => (t: Task) => !outdatedIn(v)(t) && t.createdAt >= st.startedAt;

function serviceEvent(v: RolloutView, type: 'Normal' | 'Warning', reason: string, message: string): Plan['events'][number] {
  const name = v.svc.metadata.name;
  return { type, reason, object: { kind: 'service', name }, service: name, message };
}

/** The earliest of `ms` and `plan.wakeAt` that is still ahead. */
function wake(plan: Plan, v: RolloutView, ms: number): void {
  if (ms > v.nowMs && (plan.wakeAt === undefined || ms < plan.wakeAt)) plan.wakeAt = ms;
}

/**
 * Which rollout this pass works on: the stored one (copied), a fresh one when the service has
 * outdated live tasks and no rollout of its revision, or none (nothing to do: no plan change).
 */
export function currentRollout(v: RolloutView, stored: UpdateStatus | undefined, newStatus: () => UpdateStatus): { status: UpdateStatus; changed: boolean } | undefined {
  const outdated = outdatedIn(v);
  const hasOutdated = [...v.bySlot.values()].some((list) => list.some((t) => isLive(t) && outdated(t)));
  if (!stored || (stored.revision !== revisionOf(v) && hasOutdated)) {
    return hasOutdated ? { status: newStatus(), changed: true } : undefined;
  }
  if (stored.revision !== revisionOf(v) || !isActive(stored.state)) return undefined;
  return { status: { ...stored, tasks: { ...stored.tasks } }, changed: false };
}

export interface Assessment {
  /** The rollout's task records and failure count after this pass's observations. */
  tasks: UpdateStatus['tasks'];
  failures: number;
  /** The last failure seen in this pass ('' if none). */
  lastFailure: string;
  changed: boolean;
  /** Failure events and the wake-up of the next monitor or deadline. */
  plan: Plan;
}

/** Phase 1: the new tasks: ready for `monitorSeconds` (passed), failed, or still watched. */
export function assessNewTasks(v: RolloutView, st: UpdateStatus): Assessment {
  const plan = emptyPlan();
  const tasks = { ...st.tasks };
  let failures = st.failures;
  let lastFailure = '';
  let changed = false;
  const isNew = isNewIn(v, st);
  const seen = new Set<string>();
  for (let slot = 1; slot <= v.replicas; slot++) {
    for (const t of v.bySlot.get(slot) ?? []) {
      if (!isNew(t)) continue;
      seen.add(t.id);
      const rec: UpdateTaskRecord = { ...(tasks[t.id] ?? { slot }) };
      if (rec.passed || rec.failed) continue;
      const failure = failureOf(t, v.nowMs, v.settings);
      if (failure) {
        rec.failed = failure;
        delete rec.readySince;
        failures++;
        lastFailure = failure;
        plan.events.push({ type: 'Warning', reason: EventReason.UpdateTaskFailed, object: { kind: 'task', name: t.name, id: t.id }, service: v.svc.metadata.name, message: `rollout of revision ${revisionOf(v)}: ${failure}` });
      } else if (t.desiredState !== 'running') {
        continue;
      } else if (isReady(t)) {
        rec.readySince ??= v.now;
        const doneAt = Date.parse(rec.readySince) + v.settings.monitorMs;
        if (v.nowMs >= doneAt) rec.passed = true;
        else wake(plan, v, doneAt);
      } else {
        delete rec.readySince;
        wake(plan, v, Date.parse(t.createdAt) + v.settings.deadlineMs + 1);
      }
      if (!sameRecord(tasks[t.id], rec)) {
        tasks[t.id] = rec;
        changed = true;
      }
    }
  }
  // Forget tasks that are gone, except failures (they mark their slot as failed in this rollout).
  const failedIds = Object.keys(tasks).filter((id) => tasks[id]?.failed);
  for (const id of Object.keys(tasks)) {
    if (seen.has(id)) continue;
    if (tasks[id]?.failed && failedIds.indexOf(id) >= failedIds.length - MAX_FAILED_RECORDS) continue;
    delete tasks[id];
    changed = true;
  }
  return { tasks, failures, lastFailure, changed, plan };
}

/**
 * Phase 2: too many failures (over `maxFailureRatio` of the slots) and a failure action other
 * than continue: the rollout pauses, or asks for a rollback. Undefined: it goes on.
 */
export function failureTransition(v: RolloutView, st: UpdateStatus, lastFailure: string): Plan | undefined {
  const { settings, now } = v;
  const total = Math.max(1, v.replicas);
  if (st.state !== UpdateState.Updating || st.failures === 0 || st.failures <= settings.maxFailureRatio * total || settings.failureAction === 'continue') {
    return undefined;
  }
  const plan = emptyPlan();
  const revision = revisionOf(v);
  const why = `${st.failures}/${total} new tasks failed (${lastFailure || 'see events'})`;
  if (settings.failureAction === 'rollback' && st.previousRevision !== undefined) {
    plan.rollback = { toRevision: st.previousRevision, reason: why };
    plan.update = { ...st, updatedAt: now, message: `rolling back: ${why}` };
    return plan;
  }
  const noPrevious = settings.failureAction === 'rollback' ? '; no previous revision to roll back to' : '';
  plan.update = { ...st, state: UpdateState.Paused, updatedAt: now, message: `paused: ${why}${noPrevious}; run rollout resume or undo` };
  plan.events.push(serviceEvent(v, 'Warning', EventReason.UpdatePaused, `update to revision ${revision} paused: ${why}${noPrevious}`));
  return plan;
}

export interface SlotsView {
  /** Slots of the current step not done yet (stopping, empty, or new and not passed). */
  inFlight: number;
  /** Slots whose live task is outdated (and not being drained), in slot order. */
  candidates: number[];
}

/** Phase 3: which slots are in flight and which are still to replace (failed slots are neither). */
export function assessSlots(v: RolloutView, st: UpdateStatus, isDraining?: (t: Task) => boolean): SlotsView {
  const outdated = outdatedIn(v);
  const isNew = isNewIn(v, st);
  const failedSlots = new Set(Object.values(st.tasks).filter((r) => r.failed).map((r) => r.slot));
  let inFlight = 0;
  const candidates: number[] = [];
  for (let slot = 1; slot <= v.replicas; slot++) {
    if (failedSlots.has(slot)) continue;
    const list = v.bySlot.get(slot) ?? [];
    const keep = list.find(isLive);
    if (list.some((t) => t.desiredState !== 'running' && !isGone(t) && outdated(t))) inFlight++;
    else if (!keep) {
      const last = list[0];
      if (!last || !(last.desiredState === 'running' && isTerminal(last.status.state))) inFlight++;
    } else if (outdated(keep)) {
      if (!isDraining?.(keep)) candidates.push(slot);
    } else if (isNew(keep) && !st.tasks[keep.id]?.passed) inFlight++;
  }
  return { inFlight, candidates };
}

export interface NextStep {
  /** The rollout state after this phase (a copy). */
  status: UpdateStatus;
  changed: boolean;
  /** Slots replaced in this pass. */
  replace: number[];
  /** Completion or start events, and the wake-up at the end of the delay. */
  plan: Plan;
}

/**
 * Phase 4: with nothing in flight, the rollout is done (no candidates left) or takes its next
 * step of `parallelism` slots once `delaySeconds` have passed since the last step was done.
 */
export function nextStep(v: RolloutView, st: UpdateStatus, slots: SlotsView): NextStep {
  const plan = emptyPlan();
  const { settings, now } = v;
  const revision = revisionOf(v);
  if (slots.inFlight > 0) return { status: st, changed: false, replace: [], plan };
  if (!slots.candidates.length) {
    const rollingBack = st.state === UpdateState.RollingBack;
    const failed = st.failures ? ` (${st.failures} new tasks failed)` : '';
    const message = rollingBack ? `rolled back to revision ${revision}${failed}` : `revision ${revision} rolled out${failed}`;
    const status = { ...st, state: rollingBack ? UpdateState.RolledBack : UpdateState.Completed, completedAt: now, updatedAt: now, stepDoneAt: undefined, tasks: {}, message };
    plan.events.push(serviceEvent(v, 'Normal', rollingBack ? EventReason.RolledBack : EventReason.UpdateCompleted, message));
    return { status, changed: true, replace: [], plan };
  }
  const status = { ...st };
  let changed = false;
  if (status.steps > 0 && !status.stepDoneAt) {
    status.stepDoneAt = now;
    changed = true;
  }
  const readyAt = status.steps === 0 || !status.stepDoneAt ? 0 : Date.parse(status.stepDoneAt) + settings.delayMs;
  if (v.nowMs < readyAt) {
    wake(plan, v, readyAt);
    return { status, changed, replace: [], plan };
  }
  const take = slots.candidates.slice(0, settings.parallelism === Infinity ? slots.candidates.length : settings.parallelism);
  status.steps++;
  delete status.stepDoneAt;
  status.message = `${status.state === UpdateState.RollingBack ? 'rolling back to' : 'rolling out'} revision ${revision}: step ${status.steps}, slots ${take.join(',')}`;
  if (status.steps === 1 && status.state === UpdateState.Updating) {
    plan.events.push(serviceEvent(v, 'Normal', EventReason.UpdateStarted, `rolling out revision ${revision}${status.cause ? ` (${status.cause})` : ''}: ${slots.candidates.length} tasks, ${take.length} at a time, ${settings.order}`));
  }
  return { status, changed: true, replace: take, plan };
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

function sameRecord(a: UpdateTaskRecord | undefined, b: UpdateTaskRecord): boolean {
  return !!a && a.slot === b.slot && a.readySince === b.readySince && a.passed === b.passed && a.failed === b.failed;
}
