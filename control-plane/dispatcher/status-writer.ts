// Status reports from agents into etcd: validated at once (the agent hears about a rejection on
// its own stream), then gathered for a few milliseconds and written as conditional puts in
// transactions of up to MAX_TXN_OPS. This is the path every task of every node goes through:
// nothing here may cost a store round trip per report.
import type { Logger } from 'pino';
import type { TaskStatusReport } from '../../common/task-status.js';
import { ConflictError } from '../../common/errors.js';
import { taskStateRank, type Task, type TaskStatus } from '../../common/types.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import { decideStatus, type StatusRejectReason } from './rules.js';
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
const RETRY_AFTER_UNAVAILABLE_MS = 500;

export class StatusWriter {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly gatherMs: number;

  constructor(private readonly opts: StatusWriterOptions) {
    this.log = opts.logger;
    this.gatherMs = opts.gatherMs ?? 5;
  }

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
      }
    }
    this.schedule(this.gatherMs);
    return rejected;
  }

  /** Writes what is queued, then stops accepting timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.pending.size > 0) await this.flush().catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.flushing) return; // the running flush reschedules itself when it ends
      this.flushing = this.flush()
        .catch((err: Error) => this.log.error({ err: err.message }, 'status flush failed'))
        .finally(() => {
          this.flushing = undefined;
          this.schedule(this.gatherMs);
        });
    }, delayMs);
  }

  private async flush(): Promise<void> {
    const batch = [...this.pending];
    this.pending.clear();
    const ops: { op: WriteOp; task: Task; previous: Task; nodeId: string }[] = [];
    for (const [taskId, p] of batch) {
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
      if (!(err instanceof ConflictError)) return this.requeue(chunk, err as Error);
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
        if (!(err instanceof ConflictError)) return this.requeue([{ task, nodeId: p.nodeId }], err as Error);
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

  /** The store is unreachable: keep the reports (unless newer ones came) and try again later. */
  private requeue(items: { task: Task; nodeId: string }[], err: Error): void {
    this.log.warn({ err: err.message, reports: items.length }, 'status write failed; retrying');
    for (const { task, nodeId } of items) {
      if (!this.pending.has(task.id)) this.pending.set(task.id, { nodeId, status: task.status });
    }
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(RETRY_AFTER_UNAVAILABLE_MS);
  }
}
