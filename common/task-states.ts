// The task state machine, shared by the agent (agent/worker/lifecycle.ts: what a runner may
// report) and the dispatcher (control-plane/dispatcher/rules.ts: what a report may overwrite):
// the observed states, their order, and the moves allowed between them.
//
// Observed state only moves forward, in this order (a lamport clock); nothing follows an ended
// state; a restart is a new task in the same slot. Who writes each state:
//   pending                      the orchestrator, creating a task no node was found for yet
//   assigned                     the scheduler (or the orchestrator, for a task placed as it is created)
//   accepted preparing starting  the agent's task runner, on its way to running
//   running complete failed      the agent's task runner
//   shutdown                     the agent's task runner, stopped on request
//   orphaned                     the orchestrator, for the tasks of a node that is down
//   new, rejected                never written by Berth: kept because the wire protocol
//                                (proto/berth/v1, TaskState) and stored tasks may carry them;
//                                `rejected` counts as ended, `new` as the earliest state.

export const TaskState = {
  New: 'new',
  Pending: 'pending',
  Assigned: 'assigned',
  Accepted: 'accepted',
  Preparing: 'preparing',
  Starting: 'starting',
  Running: 'running',
  Complete: 'complete',
  Failed: 'failed',
  Shutdown: 'shutdown',
  Rejected: 'rejected',
  Orphaned: 'orphaned',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** Every state, in the order a task goes through them (the wire enum's order too). */
export const TASK_STATE_ORDER: readonly TaskState[] = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
];

export function taskStateRank(s: TaskState): number {
  return TASK_STATE_ORDER.indexOf(s);
}

/** True once a task has ended: nothing of it runs any more. */
export function isTerminal(s: TaskState): boolean {
  return taskStateRank(s) >= taskStateRank('complete');
}

/**
 * What a report of `to` is to a task in state `from`: a move forward, the same state again
 * (new details, such as health), an earlier state (stale), or anything after an end (final).
 */
export type StateMove = 'advance' | 'repeat' | 'stale' | 'final';

export function taskStateMove(from: TaskState, to: TaskState): StateMove {
  if (isTerminal(from)) return 'final';
  const delta = taskStateRank(to) - taskStateRank(from);
  return delta > 0 ? 'advance' : delta === 0 ? 'repeat' : 'stale';
}

/** May a task in `from` be reported in `to`? Forward, or the same state while it has not ended. */
export function mayMove(from: TaskState, to: TaskState): boolean {
  const move = taskStateMove(from, to);
  return move === 'advance' || move === 'repeat';
}

/** The states a task in `from` may move forward to (none once it has ended). */
export function nextStates(from: TaskState): TaskState[] {
  return TASK_STATE_ORDER.filter((to) => taskStateMove(from, to) === 'advance');
}

/** Not yet taken by an agent: before `accepted` (pending or assigned, or never written `new`). */
export function isBeforeAgent(s: TaskState): boolean {
  return taskStateRank(s) <= taskStateRank('assigned');
}
