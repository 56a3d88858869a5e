// The dispatcher's view of the tasks: an informer on `tasks/` indexed by task id and by node,
// plus the versions of the dispatcher's own writes that the watch has not delivered yet (so the
// next conditional write of the same task does not lose against itself).
import type { Logger } from 'pino';
import type { Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor } from '../store/shared-informers.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { assignmentDeltas, type AssignmentDelta } from './rules.js';

export interface TaskIndexOptions {
  store: Store;
  logger: Logger;
  /** Called for every change an agent must hear about, after the index is updated. */
  onDelta: (delta: AssignmentDelta, task: Task) => void;
  /** The process's task informer to subscribe to; without it, the index watches on its own. */
  informer?: Informer<Task>;
}

export class TaskIndex {
  private readonly informer: Informer<Task>;
  private readonly release: () => Promise<void>;
  private readonly keyById = new Map<string, string>();
  private readonly idsByNode = new Map<string, Set<string>>();
  private readonly written = new Map<string, Task>();

  constructor(private readonly opts: TaskIndexOptions) {
    ({ informer: this.informer, release: this.release } = informerFor<Task>(opts.informer, {
      store: opts.store,
      prefix: keys.tasks,
      logger: opts.logger,
      onEvent: (ev) => this.onEvent(ev),
    }));
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    for (const [key, task] of this.informer.cache) this.index(key, undefined, task);
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
    for (const id of this.idsByNode.get(nodeId) ?? []) {
      const t = this.get(id);
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
    this.index(ev.key, ev.previous, next);
    if (ev.type === 'put') {
      const mine = this.written.get(ev.value.id);
      if (mine && (ev.value.version ?? 0) >= (mine.version ?? 0)) this.written.delete(ev.value.id);
    } else {
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

  /** Idempotent: the initial build and early watch events may both index the same task. */
  private index(key: string, prev: Task | undefined, next: Task | undefined): void {
    if (prev?.nodeId && prev.nodeId !== next?.nodeId) this.idsByNode.get(prev.nodeId)?.delete(prev.id);
    if (!next) {
      if (prev) this.keyById.delete(prev.id);
      return;
    }
    this.keyById.set(next.id, key);
    if (next.nodeId) {
      let set = this.idsByNode.get(next.nodeId);
      if (!set) this.idsByNode.set(next.nodeId, (set = new Set()));
      set.add(next.id);
    }
  }
}
