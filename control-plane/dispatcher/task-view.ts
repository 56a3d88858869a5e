// The dispatcher's view of the tasks: an informer on `tasks/`, its tasks by node (the informer's
// `byNode` index), task keys by id, plus the versions of the dispatcher's own writes that the watch has not delivered yet (so the
// next conditional write of the same task does not lose against itself).
import type { Logger } from 'pino';
import type { Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor, taskIndexes } from '../store/shared-informers.js';
import type { InformerIndex } from '../store/informer-index.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { assignmentDeltas, type AssignmentDelta } from './rules.js';

export interface TaskViewOptions {
  store: Store;
  logger: Logger;
  /** Called for every change an agent must hear about, after the index is updated. */
  onDelta: (delta: AssignmentDelta, task: Task) => void;
  /** The process's task informer to subscribe to; without it, the index watches on its own. */
  informer?: Informer<Task>;
}

export class TaskView {
  private readonly informer: Informer<Task>;
  private readonly release: () => Promise<void>;
  private readonly keyById = new Map<string, string>();
  private readonly byNode: InformerIndex<Task>;
  private readonly written = new Map<string, Task>();

  constructor(private readonly opts: TaskViewOptions) {
    ({ informer: this.informer, release: this.release } = informerFor<Task>(opts.informer, {
      store: opts.store,
      prefix: keys.tasks,
      logger: opts.logger,
      onEvent: (ev) => this.onEvent(ev),
    }));
    this.byNode = taskIndexes(this.informer).byNode;
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    for (const [key, task] of this.informer.cache) this.keyById.set(task.id, key);
  }

  async stop(): Promise<void> {
    await this.release();
  }

  /** The freshest known copy of a task: the dispatcher's own write if the watch lags behind it. */
  get(taskId: string): Task | undefined {
    const key = this.keyById.get(taskId);
    const cached = key === undefined ? undefined : this.informer.cache.get(key);
    const mine = this.written.get(taskId);
    if (mine && cached && (mine.version ?? 0) > (cached.version ?? 0)) return mine;
    if (mine) this.written.delete(taskId);
    return cached;
  }

  keyOf(taskId: string): string | undefined {
    return this.keyById.get(taskId);
  }

  /** Every task assigned to a node, whatever its desired state, until deleted from the store. */
  tasksOf(nodeId: string): Task[] {
    const out: Task[] = [];
    for (const cached of this.byNode.get(nodeId)?.values() ?? []) {
      const t = this.get(cached.id);
      if (t) out.push(t);
    }
    return out;
  }

  /** Records a task as written at `version`, until the watch catches up. */
  noteWritten(task: Task): void {
    this.written.set(task.id, task);
  }

  private onEvent(ev: InformerEvent<Task>): void {
    const next = ev.type === 'put' ? ev.value : undefined;
    if (ev.type === 'put') {
      this.keyById.set(ev.value.id, ev.key);
      const mine = this.written.get(ev.value.id);
      if (mine && (ev.value.version ?? 0) >= (mine.version ?? 0)) this.written.delete(ev.value.id);
    } else {
      this.keyById.delete(ev.previous.id);
      this.written.delete(ev.previous.id);
    }
    const task = next ?? ev.previous;
    if (!task) return;
    for (const delta of assignmentDeltas(ev.previous, next)) {
      try {
        this.opts.onDelta(delta, task);
      } catch (err) {
        this.opts.logger.error({ err, taskId: task.id }, 'assignment delta handler failed');
      }
    }
  }
}
