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
import { isActive, UpdateState, type UpdateStatus } from '../../common/rollout.js';
import type { Service, ServiceSpec, Task } from '../../common/types.js';
import { emptyPlan, EventReason, mergePlans, type Plan } from './plan.js';
import { assessNewTasks, assessSlots, currentRollout, failureTransition, nextStep, type RolloutView } from './rollout-phases.js';
import { isGone } from './rules.js';
import { isLive, isOutdated } from '../../common/task-predicates.js';

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
 * Plans one pass of the rollout of a replicated service: its plan holds the next rollout state
 * (`update`, only when it changed), a rollback request, events and a wake-up time; `pass` says
 * which slots' outdated task may be replaced now. The phases are in rollout-phases.ts.
 */
export function planRollout(input: RolloutInput): { pass: RolloutPass; plan: Plan } {
  const { svc, now } = input;
  const settings = updateSettings(svc.spec);
  const pass: RolloutPass = { replace: new Set(), settings, startFirst: settings.order === 'start-first' };
  const view: RolloutView = { svc, bySlot: input.bySlot, replicas: input.replicas, settings, now, nowMs: Date.parse(now) };
  const current = currentRollout(view, input.update, () => newUpdateStatus(svc, now, input.update ? { previousRevision: input.update.revision } : {}));
  if (!current) return { pass, plan: emptyPlan() };

  const seen = assessNewTasks(view, current.status);
  const assessed: UpdateStatus = { ...current.status, tasks: seen.tasks, failures: seen.failures };
  const failed = failureTransition(view, assessed, seen.lastFailure);
  if (failed) return { pass, plan: mergePlans(seen.plan, failed) };

  const step = nextStep(view, assessed, assessSlots(view, assessed, input.isDraining));
  for (const slot of step.replace) pass.replace.add(slot);
  const plan = mergePlans(seen.plan, step.plan);
  if (current.changed || seen.changed || step.changed) plan.update = { ...step.status, updatedAt: now };
  return { pass, plan };
}

/**
 * Global services are replaced node by node as before (stop-first, one pass each), without
 * monitoring: their rollout state only says when no task of an older spec is left.
 */
export function planGlobalRollout(svc: Service, tasks: readonly Task[], update: UpdateStatus | undefined, now: string): Plan {
  const plan = emptyPlan();
  const revision = svc.metadata.revision ?? 0;
  const outdated = (t: Task) => isOutdated(t, svc.spec, svc.metadata.restartedAt);
  const pending = tasks.some((t) => (isLive(t) || (t.desiredState !== 'running' && !isGone(t))) && outdated(t));
  let status = update;
  if (!status || (status.revision !== revision && pending)) {
    if (!pending) return plan;
    status = newUpdateStatus(svc, now, status ? { previousRevision: status.revision } : {});
    plan.update = status;
  }
  if (status.revision !== revision || !isActive(status.state) || pending) return plan;
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
  return plan;
}
