// The contract between an agent's session (gRPC, talks to the control plane) and its worker
// (runs the tasks assigned to this node through a driver). The session knows nothing of
// containers; the worker knows nothing of gRPC.
import type { TaskStatusReport } from '../../common/task-status.js';
import type { Task } from '../../common/types.js';

export interface TaskWorker {
  /**
   * Adopts what already runs on this node (containers labelled with this node's name) before
   * any assignment arrives, so a restarted agent never starts a twin.
   */
  start(): Promise<void>;
  /**
   * The full set of tasks assigned to this node, sent at the start of every session. Tasks
   * missing from the set are stopped and removed; tasks in it that already run are kept.
   */
  setAssignments(tasks: Task[]): void;
  /** One task added or changed (for instance its desiredState became `shutdown`). */
  upsert(task: Task): void;
  /** A task no longer assigned to this node: stop it (with its grace period) and remove it. */
  remove(taskId: string): void;
  /** The latest status of every task this worker knows, to resynchronise after a reconnect. */
  statuses(): TaskStatusReport[];
  /** Subscribe to status changes (every state change, with timestamp and details). */
  onStatus(listener: (report: TaskStatusReport) => void): void;
  /** Stops supervising. Containers keep running: a restarted agent adopts them. */
  stop(): Promise<void>;
  /**
   * Cut off from the control plane for too long: stop (not remove) every task, since the
   * control plane has most likely replaced them elsewhere. They are reported `shutdown` on
   * reconnection, and the full assignment set then decides what is removed.
   */
  fence?(): void;
}
