// The dispatcher's decisions, as pure functions of plain data: which task changes an agent must
// hear about, and whether a status report may be written. The I/O around them lives in
// task-view.ts, status-writer.ts and node-session.ts.
import { taskStateMove } from '../../common/task-states.js';
import type { Task, TaskStatus } from '../../common/types.js';

export const AssignmentChange = { Upsert: 'upsert', Remove: 'remove' } as const;
export type AssignmentChange = (typeof AssignmentChange)[keyof typeof AssignmentChange];

export interface AssignmentDelta {
  nodeId: string;
  change: AssignmentChange;
}

/**
 * What the agents must be told when a stored task goes from `prev` to `next` (undefined =
 * absent). Status writes, including the dispatcher's own, change nothing an agent acts on.
 */
export function assignmentDeltas(prev: Task | undefined, next: Task | undefined): AssignmentDelta[] {
  const out: AssignmentDelta[] = [];
  const before = prev?.nodeId;
  const after = next?.nodeId;
  if (before && before !== after) out.push({ nodeId: before, change: AssignmentChange.Remove });
  if (after && next && (!prev || before !== after || agentVisibleChange(prev, next))) {
    out.push({ nodeId: after, change: AssignmentChange.Upsert });
  }
  return out;
}

/** True when the agent would act differently: another desired state or another spec. */
export function agentVisibleChange(a: Task, b: Task): boolean {
  return a.desiredState !== b.desiredState || a.serviceVersion !== b.serviceVersion || JSON.stringify(a.spec) !== JSON.stringify(b.spec);
}

export const StatusRejectReason = {
  TaskNotFound: 'TaskNotFound',
  NotAssignedToNode: 'NotAssignedToNode',
  InvalidStatus: 'InvalidStatus',
} as const;
export type StatusRejectReason = (typeof StatusRejectReason)[keyof typeof StatusRejectReason];

export const StatusIgnoreReason = {
  /** An earlier state than the stored one: state only moves forward. */
  Stale: 'stale',
  /**
   * Same state and same details: nothing to write (a resync after reconnect, typically). A report
   * of the same state with other details (a health change, a newer probe) is written.
   */
  Unchanged: 'unchanged',
  /** The stored state is terminal; what the task ended as is final. */
  Final: 'final',
} as const;
export type StatusIgnoreReason = (typeof StatusIgnoreReason)[keyof typeof StatusIgnoreReason];

export type StatusDecision =
  | { kind: 'write' }
  | { kind: 'ignore'; why: StatusIgnoreReason }
  | { kind: 'reject'; reason: StatusRejectReason; message: string };

/** May `status`, reported by node `nodeId`, replace the stored status of `task`? */
export function decideStatus(task: Task | undefined, nodeId: string, status: TaskStatus): StatusDecision {
  if (!task) return { kind: 'reject', reason: StatusRejectReason.TaskNotFound, message: 'no such task' };
  if (task.nodeId !== nodeId) {
    return {
      kind: 'reject',
      reason: StatusRejectReason.NotAssignedToNode,
      message: `task is assigned to ${task.nodeId ? `node ${task.nodeId}` : 'no node'}`,
    };
  }
  // The task state machine (common/task-states.ts) decides; a repeated state is written only
  // when its details changed.
  const stored = task.status;
  const move = taskStateMove(stored.state, status.state);
  if (move === 'final') return { kind: 'ignore', why: StatusIgnoreReason.Final };
  if (move === 'stale') return { kind: 'ignore', why: StatusIgnoreReason.Stale };
  if (move === 'repeat' && sameDetails(stored, status)) return { kind: 'ignore', why: StatusIgnoreReason.Unchanged };
  return { kind: 'write' };
}

function sameDetails(a: TaskStatus, b: TaskStatus): boolean {
  const { timestamp: _a, ...restA } = a;
  const { timestamp: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

/** Nodes whose last sign of life is older than the grace period, and not already down. */
export function expiredNodes(lastSeen: ReadonlyMap<string, number>, down: ReadonlySet<string>, now: number, graceMs: number): string[] {
  const out: string[] = [];
  for (const [nodeId, seen] of lastSeen) if (!down.has(nodeId) && now - seen > graceMs) out.push(nodeId);
  return out;
}
