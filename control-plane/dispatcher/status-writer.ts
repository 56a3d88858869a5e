// Status reports from agents into etcd: validated at once (the agent hears about a rejection on
// its own stream), then gathered for a few milliseconds and written as conditional puts in
// transactions of up to MAX_TXN_OPS. This is the path every task of every node goes through:
// nothing here may cost a store round trip per report.
//
// The loop is the controllers' work queue (controller/work-queue.ts), keyed by task id: a
// report adds its task, a pass writes every task ready (a fixed gatherMs after the first), and
// reports the store could not take are retried with backoff (one log line per outage).
import type { Logger } from 'pino';
import type { TaskStatusReport } from '../../common/task-status.js';
import { ConflictError } from '../../common/errors.js';
import { taskStateRank, type Task, type TaskStatus } from '../../common/types.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import { decideStatus, type StatusRejectReason } from './rules.js';
import type { Controller } from '../controller/controller.js';
import { WorkQueue } from '../controller/work-queue.js';
import type { TaskView } from './task-view.js';

export interface StatusRejection {
  taskId: string;
  reason: StatusRejectReason;
  message: string;
}

export interface StatusWriterOptions {
  store: Store;
  index: TaskView;
  logger: Logger;
  /** How long reports are gathered before a write (default 5 ms). */
  gatherMs?: number;
  /** Called after each report is written, with the task as it was before (for events). */
  onWritten?: (previous: Task, next: Task) => void;
}

interface Pending {
  nodeId: string;
  status: TaskStatus;
}

/** Transactions in flight at once during one flush. */
const CONCURRENT_TXNS = 4;
/** Conditional write attempts of one task before its report is dropped (it is resent on reconnect). */
const MAX_ATTEMPTS = 5;

export class StatusWriter implements Controller {
  /** The latest acceptable report per task id, until written; the queue says when. */
  private readonly pending = new Map<string, Pending>();
  private readonly queue: WorkQueue<string>;
  private readonly log: Logger;

  constructor(private readonly opts: StatusWriterOptions) {
    this.log = opts.logger;
    const gatherMs = opts.gatherMs ?? 5;
    this.queue = new WorkQueue<string>({ logger: this.log, name: 'status-writer', quietMs: gatherMs, maxDelayMs: gatherMs, process: (ids) => this.flush(ids) });
    this.queue.start();
  }

  /** Nothing to start: reports are taken from construction (kept for the controllers' shape). */
  start(): void {}

  /** Queues the acceptable reports of node `nodeId`; returns the rejected ones. */
  submit(nodeId: string, reports: TaskStatusReport[]): StatusRejection[] {
    const rejected: StatusRejection[] = [];
    for (const { taskId, status } of reports) {
      const queued = this.pending.get(taskId);
      if (queued && queued.nodeId === nodeId && taskStateRank(status.state) < taskStateRank(queued.status.state)) continue;
      const decision = decideStatus(this.opts.index.get(taskId), nodeId, status);
      if (decision.kind === 'reject') {
        this.log.warn({ nodeId, taskId, reason: decision.reason, state: status.state }, `status report rejected: ${decision.message}`);
        rejected.push({ taskId, reason: decision.reason, message: decision.message });
      } else if (decision.kind === 'write') {
        this.pending.set(taskId, { nodeId, status });
        this.queue.add(taskId);
      }
    }
    return rejected;
  }

  /** Writes what is queued (reports waiting out a retry too), then stops. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.queue.stop({ finalPass: true });
  }

  private async flush(taskIds: string[]): Promise<void> {
    const ops: { op: WriteOp; task: Task; previous: Task; nodeId: string }[] = [];
    for (const taskId of taskIds) {
      const p = this.pending.get(taskId);
      if (!p) continue;
      this.pending.delete(taskId);
      const built = this.build(taskId, p);
      if (built) ops.push({ ...built, nodeId: p.nodeId });
    }
    const chunks: (typeof ops)[] = [];
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) chunks.push(ops.slice(i, i + MAX_TXN_OPS));
    // A pool, not waves: the next chunk starts as soon as any of the ones in flight is written.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) await this.writeChunk(chunks[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_TXNS, chunks.length) }, worker));
  }

  /** The conditional put of a report against the freshest copy of its task, if still wanted. */
  private build(taskId: string, p: Pending, fresh?: Task): { op: WriteOp; task: Task; previous: Task } | undefined {
    const current = fresh ?? this.opts.index.get(taskId);
    const key = this.opts.index.keyOf(taskId);
    if (!current || key === undefined || decideStatus(current, p.nodeId, p.status).kind !== 'write') return undefined;
    const { version, ...rest } = current;
    const task: Task = { ...rest, status: p.status };
    return { op: { type: 'put', key, value: task, ...(version !== undefined ? { version } : {}) }, task, previous: current };
  }

  private async writeChunk(chunk: { op: WriteOp; task: Task; previous: Task; nodeId: string }[]): Promise<void> {
    try {
      const revision = await this.opts.store.txn(chunk.map((c) => c.op));
      for (const c of chunk) {
        this.opts.index.noteWritten({ ...c.task, version: revision });
        this.opts.onWritten?.(c.previous, c.task);
      }
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) return this.requeue(chunk, err);
    }
    // One stale task fails the whole transaction: write the others one by one.
    await Promise.all(chunk.map((c) => this.writeOne(c.task.id, { nodeId: c.nodeId, status: c.task.status }, c.op, c.task, c.previous)));
  }

  private async writeOne(taskId: string, p: Pending, op: WriteOp, task: Task, previous: Task): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const revision = await this.opts.store.txn([op]);
        this.opts.index.noteWritten({ ...task, version: revision });
        this.opts.onWritten?.(previous, task);
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) return this.requeue([{ task, nodeId: p.nodeId }], err);
        if (attempt >= MAX_ATTEMPTS) {
          this.log.warn({ taskId, state: p.status.state }, 'status write kept conflicting; dropped');
          return;
        }
        const fresh = await this.opts.store.get<Task>(op.key).catch(() => undefined);
        const rebuilt = fresh ? this.build(taskId, p, fresh) : undefined;
        if (!rebuilt) return; // deleted, reassigned or already further along
        op = rebuilt.op;
        task = rebuilt.task;
        previous = rebuilt.previous;
      }
    }
  }

  /** The store is unreachable: keep the reports (unless newer ones came) and try again after a backoff. */
  private requeue(items: { task: Task; nodeId: string }[], err: unknown): void {
    for (const { task, nodeId } of items) {
      if (!this.pending.has(task.id)) this.pending.set(task.id, { nodeId, status: task.status });
    }
    this.queue.retryAll(
      items.map((i) => i.task.id),
      err,
    );
  }
}
