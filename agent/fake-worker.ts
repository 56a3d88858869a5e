// A worker that runs nothing: every task assigned with desired state `running` is reported
// accepted, then running; a task told to stop is reported shut down. It reports through the real
// session, so it stands in for a node in dispatcher tests and in the scale benchmark's hollow
// nodes. `starts` counts the (pretend) starts per task, which must never exceed one.
import { DesiredState, isTerminal, TaskState, type Task, type TaskStatus } from '../common/types.js';
import type { TaskStatusReport } from '../common/task-status.js';
import type { TaskWorker } from './worker/types.js';

interface Entry {
  task: Task;
  status: TaskStatus;
}

export class FakeWorker implements TaskWorker {
  readonly starts = new Map<string, number>();
  private readonly tasks = new Map<string, Entry>();
  private readonly listeners: ((r: TaskStatusReport) => void)[] = [];

  start(): Promise<void> {
    return Promise.resolve();
  }

  setAssignments(tasks: Task[]): void {
    const assigned = new Set<string>();
    for (const t of tasks) {
      assigned.add(t.id);
      this.upsert(t);
    }
    for (const id of [...this.tasks.keys()]) if (!assigned.has(id)) this.remove(id);
  }

  upsert(task: Task): void {
    const known = this.tasks.get(task.id);
    if (!known) {
      this.tasks.set(task.id, { task, status: task.status });
      if (task.desiredState === DesiredState.Running && !isTerminal(task.status.state)) this.run(task.id);
      return;
    }
    known.task = task;
    if (task.desiredState !== DesiredState.Running && !isTerminal(known.status.state)) this.report(task.id, TaskState.Shutdown);
  }

  remove(taskId: string): void {
    this.tasks.delete(taskId);
  }

  statuses(): TaskStatusReport[] {
    return [...this.tasks].map(([taskId, e]) => ({ taskId, status: e.status }));
  }

  onStatus(listener: (report: TaskStatusReport) => void): void {
    this.listeners.push(listener);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Tasks this worker currently holds (assigned and not removed). */
  knownTaskIds(): string[] {
    return [...this.tasks.keys()];
  }

  private run(taskId: string): void {
    this.starts.set(taskId, (this.starts.get(taskId) ?? 0) + 1);
    this.report(taskId, TaskState.Accepted);
    this.report(taskId, TaskState.Running);
  }

  private report(taskId: string, state: TaskState): void {
    const entry = this.tasks.get(taskId);
    if (!entry) return;
    entry.status = { state, timestamp: new Date().toISOString() };
    const report = { taskId, status: entry.status };
    for (const l of this.listeners) l(report);
  }
}
