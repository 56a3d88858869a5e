// Pure decisions of the worker and its task runners, with no I/O: which status a runner may
// report next, what an exit means, which instances found on the node to adopt or discard.
import type { Instance, ExitResult } from '../driver/driver.js';
import { isBeforeAgent, mayMove } from '../../common/task-states.js';
import type { TaskState, TaskStatus } from '../../common/types.js';

/** Named reasons a runner reports with a state (TaskStatus.reason). */
export const StatusReason = {
  /** The image could not be pulled. */
  ImagePullFailed: 'ImagePullFailed',
  /** The image is absent and the pull policy is `never`. */
  ImageNotPresent: 'ImageNotPresent',
  /** The spec cannot run on this driver. */
  InvalidSpec: 'InvalidSpec',
  /** The runtime refused to create or start the instance. */
  StartFailed: 'StartFailed',
  /** The instance exited with a non-zero code. */
  ContainerExited: 'ContainerExited',
  /** The instance exited with code 0. */
  ContainerCompleted: 'ContainerCompleted',
  /** The task had been accepted here, but its instance is gone (e.g. removed while the agent was down). */
  ContainerMissing: 'ContainerMissing',
  /** Stopped because the desired state became shutdown or remove, or the task was unassigned. */
  Stopped: 'Stopped',
  /** Desired state was no longer running before anything was started. */
  NotStarted: 'NotStarted',
  /** A running instance found at agent start was taken over. */
  Adopted: 'Adopted',
  /** The task's secrets could not be had from the control plane or written on the node. */
  SecretsUnavailable: 'SecretsUnavailable',
  /** The health check failed failureThreshold times in a row: the instance was stopped. */
  Unhealthy: 'Unhealthy',
} as const;
export type StatusReason = (typeof StatusReason)[keyof typeof StatusReason];

export type StatusDetails = Omit<TaskStatus, 'state' | 'timestamp'>;

/**
 * The status to report when moving to `next`, or undefined when the move is not allowed by the
 * task state machine (common/task-states.ts): forward only, nothing after an end. Repeating the current
 * (non-terminal) state is allowed, to add details such as the container id after an adoption.
 * Details not given are carried over (a container id stays known). The timestamp is the time
 * the state last changed: a repeated state (a health report, say) keeps it.
 */
export function advanceStatus(current: TaskStatus, next: TaskState, details: StatusDetails, now: Date): TaskStatus | undefined {
  if (!mayMove(current.state, next)) return undefined;
  const carried: StatusDetails = {};
  if (current.containerId !== undefined) carried.containerId = current.containerId;
  if (current.hostPorts !== undefined) carried.hostPorts = current.hostPorts;
  if (current.address !== undefined) carried.address = current.address;
  const timestamp = next === current.state && current.timestamp ? current.timestamp : now.toISOString();
  return { ...carried, ...details, state: next, timestamp };
}

/**
 * What an ended instance means for its task. `unhealthy` is the message of a health verdict that
 * made the runner stop the instance: it takes precedence, since the stop was the runner's own.
 */
export function exitOutcome(exit: ExitResult, stopRequested: boolean, unhealthy?: string): { state: TaskState } & StatusDetails {
  const base = { exitCode: exit.exitCode, lastOutput: exit.lastOutput };
  if (unhealthy !== undefined) return { state: 'failed', reason: StatusReason.Unhealthy, message: unhealthy, ...base };
  if (stopRequested) {
    return { state: 'shutdown', reason: StatusReason.Stopped, message: `stopped (exit code ${exit.exitCode})`, ...base };
  }
  if (exit.exitCode === 0) {
    return { state: 'complete', reason: StatusReason.ContainerCompleted, message: 'exited with code 0', ...base };
  }
  const why = exit.error ? `: ${exit.error}` : '';
  return { state: 'failed', reason: StatusReason.ContainerExited, message: `exited with code ${exit.exitCode}${why}`, ...base };
}

/**
 * Whether a runner should create and start an instance for a task that has none here. A task
 * whose reported state shows it was accepted here before (by an earlier agent process) but has
 * no instance any more is lost, not started again: a restart is a new task.
 */
export function mayStartFresh(state: TaskState): boolean {
  return isBeforeAgent(state);
}

export interface AdoptionPlan {
  /** Task id -> the instance its runner takes over. */
  adopt: Map<string, Instance>;
  /** Instances to stop and remove: their task is not assigned here, or they are a twin. */
  discard: Instance[];
}

/**
 * Splits the instances found on this node between assigned tasks (one each, preferring a running
 * instance) and leftovers to discard.
 */
export function planAdoption(assignedTaskIds: ReadonlySet<string>, found: readonly Instance[]): AdoptionPlan {
  const adopt = new Map<string, Instance>();
  const discard: Instance[] = [];
  for (const inst of found) {
    if (!assignedTaskIds.has(inst.taskId)) {
      discard.push(inst);
      continue;
    }
    const kept = adopt.get(inst.taskId);
    if (!kept) {
      adopt.set(inst.taskId, inst);
    } else if (inst.running && !kept.running) {
      discard.push(kept);
      adopt.set(inst.taskId, inst);
    } else {
      discard.push(inst);
    }
  }
  return { adopt, discard };
}
