// The loops behind `GET /v1/tasks/:ref/logs` and `GET /v1/services/:name/logs`: open a logs
// request on the task's node (dispatcher), write each line to the NDJSON response, and when
// following, carry on with the task that takes over the slot (one task) or with every new task
// of the service. Decisions are in log-follow.ts; this file only waits, reads and writes.
import type { Logger } from 'pino';
import type { LogNotice, LogRecord, StreamFailure } from '../../common/logs.js';
import type { Task } from '../../common/types.js';
import { isLive } from '../../common/task-predicates.js';
import type { StreamFailureInfo, TaskStreams } from '../dispatcher/task-streams.js';
import { SESSION_ENDED } from '../dispatcher/task-streams.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { liveTasks, resumeQuery, resumeTarget, successorOf, timeKey, type LogsParams } from './log-follow.js';
import type { NdjsonResponse } from './ndjson-response.js';
import { errorMessage } from '../../common/errors.js';
import { sleep } from '../../common/sleep.js';

/** How often the store is read while waiting for a slot's next task or a service's new tasks. */
export const FOLLOW_POLL_MS = 500;

export const NODE_UNAVAILABLE = 'NodeUnavailable';

export interface LogStreamDeps {
  store: Store;
  streams: TaskStreams;
  logger: Logger;
  pollMs?: number;
}

interface StreamResult {
  failure?: StreamFailureInfo;
  /** The time of the last line sent, when the runtime gave one. */
  lastTime?: string;
  /** Whether any line was sent. */
  shown?: boolean;
}

/** One task's logs, then (following) each task that takes over its slot, until the client leaves. */
export async function streamTaskLogs(deps: LogStreamDeps, out: NdjsonResponse, first: Task, params: LogsParams): Promise<void> {
  const seen = new Set<string>([first.id]);
  let task = first;
  let query = params;
  let after: string | undefined;
  /** Lines of the current task were shown (a resume must not show them again). */
  let shown = false;
  for (;;) {
    const r = await streamOne(deps, out, task, query, after);
    shown ||= r.shown === true;
    if (out.closed) return;
    if (r.failure && (!params.follow || !resumable(r.failure))) {
      out.write(failureLine(r.failure));
      return;
    }
    if (!params.follow) return;
    if (r.failure) out.write(notice(`${task.name}: ${r.failure.message}; waiting for its node to come back or for the task that takes over its slot`, task.name));
    const connected = (nodeId: string) => deps.streams.isConnected(nodeId);
    const ended = task;
    // Cut off from its node, the task may still run there: resume it once the node is back.
    const next = await waitFor(deps, out, task.serviceName, (tasks) => (r.failure ? resumeTarget(ended, tasks, seen, connected) : successorOf(ended, tasks, seen)));
    if (!next) return;
    if (next.id === task.id) {
      // The node's session is back and the task still runs there: its output goes on, from the
      // last line shown (lines of that same instant already shown are skipped).
      out.write(notice(`${task.name}: its node is back; resuming`, task.name));
      after = r.lastTime ?? after;
      query = resumeQuery(after, shown, query);
      task = next;
      continue;
    }
    out.write(notice(`${task.name} ended; following ${next.name}`, next.name));
    seen.add(next.id);
    task = next;
    after = undefined;
    shown = false;
    // All of the new task's output: it started after the lines already shown.
    query = { follow: true };
  }
}

/** The logs of every task of a service that runs now; following, also of each task that starts later. */
export async function streamServiceLogs(deps: LogStreamDeps, out: NdjsonResponse, service: string, params: LogsParams): Promise<void> {
  const seen = new Set<string>();
  const running = new Set<Promise<void>>();
  /** Followed tasks cut off from their node, with the time of their last line shown. */
  const cutOff = new Map<string, { task: Task; query: LogsParams; lastTime?: string }>();
  /** Tasks some of whose lines were shown (a resume must not show them again). */
  const shown = new Set<string>();
  const start = (t: Task, query: LogsParams, after?: string): void => {
    seen.add(t.id);
    const p = streamOne(deps, out, t, query, after).then((r) => {
      if (r.shown) shown.add(t.id);
      if (!r.failure || out.closed) return;
      out.write(params.follow ? notice(`${t.name}: ${r.failure.message}`, t.name) : failureLine(r.failure, t.name));
      if (params.follow && resumable(r.failure)) cutOff.set(t.id, { task: t, query, ...(r.lastTime ? { lastTime: r.lastTime } : {}) });
    });
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  for (const t of liveTasks(await tasksOf(deps.store, service))) start(t, params);
  if (!params.follow) {
    await Promise.all([...running]);
    return;
  }
  // New tasks (restarts, scale-ups, rollouts) show from their first line.
  await waitFor(deps, out, service, (tasks) => {
    // A task whose node is back and which still runs there: its output goes on from the last line.
    for (const [id, cut] of cutOff) {
      const back = resumeTarget(cut.task, tasks, seen, (n) => deps.streams.isConnected(n));
      if (back?.id === id) {
        cutOff.delete(id);
        out.write(notice(`${back.name}: its node is back; resuming`, back.name));
        start(back, resumeQuery(cut.lastTime, shown.has(id), cut.query), cut.lastTime);
      } else if (!tasks.some((t) => t.id === id && isLive(t))) {
        cutOff.delete(id); // replaced: its successor is a new task, started below
      }
    }
    for (const t of liveTasks(tasks)) {
      if (seen.has(t.id)) continue;
      if (seen.size > 0) out.write(notice(`following ${t.name}`, t.name));
      start(t, { follow: true });
    }
    return undefined;
  });
  await Promise.all([...running]);
}

/** Streams one task until the agent has sent everything (or following: the instance ended). */
function streamOne(deps: LogStreamDeps, out: NdjsonResponse, task: Task, params: LogsParams, after?: string): Promise<StreamResult> {
  if (!task.nodeId) return Promise.resolve({ failure: { reason: NODE_UNAVAILABLE, message: `task ${task.name} is not on any node` } });
  const nodeId = task.nodeId;
  // Resuming: lines up to `after` were shown already (`since` has a whole second's precision).
  const skipUpTo = after ? timeKey(after) : undefined;
  let lastTime = after;
  let shown = false;
  return new Promise<StreamResult>((resolve) => {
    let remote: ReturnType<TaskStreams['openLogs']> | undefined;
    const finish = (r: StreamResult): void => {
      out.signal.removeEventListener('abort', onAbort);
      if (remote) out.detach(remote);
      resolve({ ...r, shown, ...(lastTime ? { lastTime } : {}) });
    };
    const onAbort = (): void => {
      remote?.cancel();
      finish({});
    };
    try {
      remote = deps.streams.openLogs(
        nodeId,
        {
          taskId: task.id,
          follow: params.follow,
          ...(task.status.containerId ? { instanceId: task.status.containerId } : {}),
          ...(params.tail !== undefined ? { tail: params.tail } : {}),
          ...(params.since ? { since: params.since } : {}),
        },
        {
          lines: (lines) => {
            for (const l of lines) {
              if (l.time) {
                const key = timeKey(l.time);
                if (skipUpTo && key && key <= skipUpTo) continue;
                lastTime = l.time;
              }
              const rec: LogRecord = { task: task.name, taskId: task.id, stream: l.stream, line: l.line, ...(l.time ? { time: l.time } : {}) };
              out.write(rec);
              shown = true;
            }
          },
          end: (failure) => finish(failure ? { failure } : {}),
        },
      );
    } catch (err) {
      finish({ failure: { reason: NODE_UNAVAILABLE, message: errorMessage(err) } });
      return;
    }
    out.attach(remote);
    if (out.signal.aborted) onAbort();
    else out.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Reads the service's tasks every poll until `pick` returns one, the service is deleted, or the
 * client leaves (then undefined).
 */
async function waitFor(deps: LogStreamDeps, out: NdjsonResponse, service: string, pick: (tasks: Task[]) => Task | undefined): Promise<Task | undefined> {
  const every = deps.pollMs ?? FOLLOW_POLL_MS;
  while (!out.closed) {
    try {
      if (!(await deps.store.get(keys.service(service)))) {
        out.write(notice(`service ${service} was deleted`));
        return undefined;
      }
      const found = pick(await tasksOf(deps.store, service));
      if (found) return found;
    } catch (err) {
      deps.logger.debug({ err: errorMessage(err), service }, 'reading tasks to follow failed; retrying');
    }
    await sleep(every, out.signal);
  }
  return undefined;
}

async function tasksOf(store: Store, service: string): Promise<Task[]> {
  return (await store.list<Task>(keys.tasksOf(service))).items;
}

/** A node that went away (its tasks get replaced) is worth waiting out; a missing instance is not. */
function resumable(f: StreamFailureInfo): boolean {
  return f.reason === SESSION_ENDED || f.reason === NODE_UNAVAILABLE;
}

function failureLine(f: StreamFailureInfo, task?: string): StreamFailure {
  return { error: f.reason, message: task ? `${task}: ${f.message}` : f.message };
}

function notice(text: string, task?: string): LogNotice {
  return { notice: text, ...(task ? { task } : {}) };
}

