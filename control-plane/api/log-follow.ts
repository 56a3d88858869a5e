// Pure decisions of `logs`: which tasks have output worth streaming, which task took over a
// slot after the one being followed ended, and the query parameters. No I/O here.
import { BadRequestError } from './errors.js';
import { taskStateRank, TaskState, type Task } from '../../common/types.js';
import { isLive } from '../../common/task-predicates.js';

export interface LogsParams {
  follow: boolean;
  tail?: number;
  /** RFC 3339. */
  since?: string;
}

/** Query string -> params; a BadRequestError names the bad parameter. */
export function parseLogsParams(q: Record<string, string | undefined>): LogsParams {
  const follow = q.follow === 'true' || q.follow === '1';
  const out: LogsParams = { follow };
  if (q.tail !== undefined && q.tail !== '' && q.tail !== 'all') {
    if (!/^\d+$/.test(q.tail)) throw new BadRequestError(`tail must be a whole number or "all" (got "${q.tail}")`);
    out.tail = Number(q.tail);
  }
  if (q.since !== undefined && q.since !== '') {
    const ms = Date.parse(q.since);
    if (!/^\d{4}-\d\d-\d\dT/.test(q.since) || Number.isNaN(ms)) throw new BadRequestError(`since must be an RFC 3339 time (got "${q.since}")`);
    out.since = new Date(ms).toISOString();
  }
  return out;
}

/** The task has (or had) an instance on its node: it got as far as running. */
export function hasOutput(t: Task): boolean {
  return t.nodeId !== undefined && taskStateRank(t.status.state) >= taskStateRank(TaskState.Running) && t.status.state !== TaskState.Rejected;
}

/**
 * Tasks of a service whose output `logs service/NAME` shows: those that run now; for a job
 * (whose tasks end by design), each slot's latest task that ran, finished or not.
 */
export function liveTasks(tasks: readonly Task[]): Task[] {
  const latestOfJob = new Map<number, Task>();
  for (const t of tasks) {
    if (t.spec.mode !== 'job' || t.desiredState !== 'running' || !hasOutput(t)) continue;
    const cur = latestOfJob.get(t.slot);
    if (!cur || t.createdAt > cur.createdAt) latestOfJob.set(t.slot, t);
  }
  return tasks
    .filter((t) => (t.spec.mode === 'job' ? latestOfJob.get(t.slot) === t : isLive(t) && hasOutput(t)))
    .sort((a, b) => a.slot - b.slot || a.createdAt.localeCompare(b.createdAt));
}

/** Same slot: the slot number of a replicated service, the node of a global one. */
export function sameSlot(a: Task, b: Task): boolean {
  if (a.serviceName !== b.serviceName) return false;
  return a.spec.mode === 'global' || b.spec.mode === 'global' ? a.nodeId === b.nodeId && a.slot === b.slot : a.slot === b.slot;
}

/**
 * The task that took over the slot of `ended`: created after it, meant to run, and already with
 * output to read. Undefined while there is none yet (the orchestrator may wait before a restart).
 */
export function successorOf(ended: Task, tasks: readonly Task[], seen: ReadonlySet<string>): Task | undefined {
  return tasks
    .filter((t) => !seen.has(t.id) && sameSlot(t, ended) && t.createdAt >= ended.createdAt && t.desiredState === 'running' && hasOutput(t))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
}

/**
 * A log line's time as a sortable key (RFC 3339 with up to nanoseconds, trailing zeros trimmed
 * as the Engine writes them): seconds since the epoch, then the fraction padded to 9 digits.
 */
export function timeKey(time: string): string | undefined {
  const m = /^(.*?:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) return undefined;
  return `${String(secs / 1000).padStart(12, '0')}.${(m[2] ?? '').padEnd(9, '0')}`;
}

/**
 * Following a task whose node's session dropped: the same task, once it is still meant to run
 * on the same node and that node is connected again (its output continues), else the task that
 * took over its slot (`successorOf`), else undefined (keep waiting).
 */
export function resumeTarget(
  followed: Task,
  tasks: readonly Task[],
  seen: ReadonlySet<string>,
  connected: (nodeId: string) => boolean,
): Task | undefined {
  const same = tasks.find((t) => t.id === followed.id);
  if (same && isLive(same) && same.nodeId && same.nodeId === followed.nodeId && connected(same.nodeId)) return same;
  return successorOf(followed, tasks, seen);
}

/**
 * The query that resumes a followed task after its node came back: from the time of the last
 * line shown; with no line time, only new lines if some were shown; else the query as asked.
 */
export function resumeQuery(lastTime: string | undefined, shown: boolean, asked: LogsParams): LogsParams {
  if (lastTime) return { follow: true, since: lastTime };
  return shown ? { follow: true, tail: 0 } : asked;
}
