// What a reconcile reads and decides, with no I/O: every planner takes a PlanInput and returns a
// Plan (tasks to create, tasks to stop, tasks to forget); the parts of a plan merge (mergePlans).
import { randomBytes } from 'node:crypto';
import type { EventInput } from '../../common/events.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import type { BackoffOptions } from './backoff.js';

/** What every planner reads: one service's tasks and what decides their fate. */
export interface PlanInput {
  /** The service; absent once it was deleted. */
  service?: Service;
  /** Every task of the service, ended ones included. */
  tasks: readonly Task[];
  /** The time of the pass (ISO 8601). */
  now: string;
  /**
   * Known nodes. A global plan needs every node; a replicated one reads only the nodes that are
   * down or draining, so a caller may pass just those.
   */
  nodes?: readonly Node[];
  backoff?: BackoffOptions;
  /** The service's rollout state (`updates/<service>`), if any. */
  update?: UpdateStatus;
}

export interface Plan {
  /** New tasks to write (state pending). */
  create: Task[];
  /** Live tasks whose desiredState becomes `shutdown` (or `remove` when the service is gone). */
  shutdown: { task: Task; desiredState: 'shutdown' | 'remove'; reason: string }[];
  /** Tasks to delete from the store: stopped for good, or never placed on a node. */
  remove: Task[];
  /**
   * Tasks of a node that is down: written as ended (`orphaned`, desired `shutdown`) since no
   * agent will ever report them again; the agent stops them if it comes back.
   */
  orphan: { task: Task; next: Task }[];
  /** What to record once the plan is written. */
  events: EventInput[];
  /** The rollout's next state (`updates/<service>`), when this pass changed it. */
  update?: UpdateStatus;
  /** The rollout failed and must return to its previous revision (the loop writes the rollback). */
  rollback?: { toRevision: number; reason: string };
  /** Plan again at this time (ms since the epoch) even if nothing changes: a monitor or delay ends. */
  wakeAt?: number;
  /** Ids of the created tasks that replace a task that ended by itself (restarts, for the metrics). */
  restarts?: string[];
}

export const emptyPlan = (): Plan => ({ create: [], shutdown: [], remove: [], orphan: [], events: [] });

/**
 * Two parts of one service's plan as one: the lists in order (`a`'s first), the later rollout
 * state and rollback when both have one, the earlier wake-up. Neither part is changed.
 */
export function mergePlans(a: Plan, b: Plan): Plan {
  const plan: Plan = {
    create: [...a.create, ...b.create],
    shutdown: [...a.shutdown, ...b.shutdown],
    remove: [...a.remove, ...b.remove],
    orphan: [...a.orphan, ...b.orphan],
    events: [...a.events, ...b.events],
  };
  const update = b.update ?? a.update;
  if (update) plan.update = update;
  const rollback = b.rollback ?? a.rollback;
  if (rollback) plan.rollback = rollback;
  if (a.restarts || b.restarts) plan.restarts = [...(a.restarts ?? []), ...(b.restarts ?? [])];
  const wakes = [a.wakeAt, b.wakeAt].filter((w): w is number => w !== undefined);
  if (wakes.length) plan.wakeAt = Math.min(...wakes);
  return plan;
}

/** Named reasons for the orchestrator's decisions, shown in task messages. */
export const Reason = {
  ScaledDown: 'scaled down',
  ServiceDeleted: 'service deleted',
  Superseded: 'replaced by a newer task in the same slot',
  Updated: 'replaced by the service update',
  NodeIneligible: 'node no longer eligible',
  NodeDraining: 'moved off a draining node',
  UpdatedStartFirst: 'replaced by the service update (its replacement is ready)',
} as const;

/** Reasons of the events the orchestrator records. */
export const EventReason = {
  TaskOrphaned: 'TaskOrphaned',
  Rescheduled: 'Rescheduled',
  TaskMoved: 'TaskMoved',
  NodeDrain: 'NodeDrain',
  CrashLoopBackOff: 'CrashLoopBackOff',
  UpdateStarted: 'UpdateStarted',
  UpdateCompleted: 'UpdateCompleted',
  UpdatePaused: 'UpdatePaused',
  UpdateTaskFailed: 'UpdateTaskFailed',
  RollbackStarted: 'RollbackStarted',
  RolledBack: 'RolledBack',
} as const;

/** `status.reason` of a task waiting out its restart backoff. */
export const CRASH_LOOP_BACK_OFF = 'CrashLoopBackOff';

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

// Random bytes drawn 20 x 512 at a time: one randomBytes call per id cost more than the rest of
// planning a task (a third of the orchestrator's CPU at 50,000 tasks).
const ID_BYTES = 20;
let idPool = Buffer.alloc(0);
let idPoolAt = 0;

export function newTaskId(): string {
  if (idPoolAt + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_BYTES * 512);
    idPoolAt = 0;
  }
  let id = '';
  for (let i = idPoolAt; i < idPoolAt + ID_BYTES; i++) id += ID_ALPHABET[idPool[i]! % ID_ALPHABET.length];
  idPoolAt += ID_BYTES;
  return id;
}

/** A new pending task of `svc`: in `slot` (replicated) or pinned to `nodeId` (global, slot 0). */
export function newTask(svc: Service, place: { slot: number } | { nodeId: string }, now: string): Task {
  const id = newTaskId();
  const name = svc.metadata.name;
  const middle = 'slot' in place ? String(place.slot) : place.nodeId.slice(0, 12);
  return {
    id,
    name: `${name}.${middle}.${id.slice(0, 5)}`,
    serviceName: name,
    slot: 'slot' in place ? place.slot : 0,
    serviceVersion: svc.metadata.version ?? 0,
    ...(svc.metadata.revision !== undefined ? { revision: svc.metadata.revision } : {}),
    ...(svc.metadata.restartedAt !== undefined ? { restartedAt: svc.metadata.restartedAt } : {}),
    spec: svc.spec,
    desiredState: 'running',
    ...('nodeId' in place ? { nodeId: place.nodeId } : {}),
    status: { state: 'pending', timestamp: now, message: 'waiting to be scheduled' },
    createdAt: now,
  };
}
