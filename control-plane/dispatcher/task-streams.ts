// Logs and exec requests to one node's agent, as the API sees them: open one with handlers for
// its answers, get a handle to cancel, pause or resume it. Protobuf stops here.
import { randomUUID } from 'node:crypto';
import { BerthError } from '../../common/errors.js';
import { OutputStream } from '../../common/logs.js';
import type { AgentMessage__Output } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { LogStream__Output } from '../../proto/generated/berth/v1/LogStream.js';
import type { NodeSession } from './node-session.js';

export interface LogsQuery {
  taskId: string;
  /** The container id the store knows for the task. */
  instanceId?: string;
  follow: boolean;
  tail?: number;
  /** RFC 3339. */
  since?: string;
}

export interface RemoteLogLine {
  stream: OutputStream;
  time?: string;
  line: string;
}

/** Why the agent could not answer (its named reason, e.g. InstanceNotFound, and message). */
export interface StreamFailureInfo {
  reason: string;
  message: string;
  /** The control plane's own error, when it refused the request (not the agent). */
  error?: BerthError;
}

/** Reason given when the node's session ended under a request. */
export const SESSION_ENDED = 'SessionEnded';

export interface LogsHandlers {
  lines(lines: RemoteLogLine[]): void;
  /** Called once: the agent sent everything (failure undefined), or could not. */
  end(failure?: StreamFailureInfo): void;
}

export interface ExecHandlers {
  output(stream: OutputStream, data: Buffer): void;
  /** Called once, with the command's exit code or why it could not run. */
  end(result: { exitCode?: number; failure?: StreamFailureInfo }): void;
}

/** A request in flight on a node's session. */
export interface RemoteStream {
  /** Stops the agent-side read or command; no handler is called afterwards. Idempotent. */
  cancel(): void;
  pause(): void;
  resume(): void;
}

/** A command to run in a task; tty and stdin make it interactive (fed through ExecStream.input). */
export interface ExecSpec {
  taskId: string;
  instanceId?: string;
  command: string[];
  tty?: boolean;
  stdin?: boolean;
  cols?: number;
  rows?: number;
}

/** Input to an interactive exec: stdin bytes, end of stdin, a new terminal size (cols and rows). */
export interface ExecInputData {
  data?: Buffer;
  closeStdin?: boolean;
  cols?: number;
  rows?: number;
}

/** An exec in flight: a RemoteStream that also takes input. */
export interface ExecStream extends RemoteStream {
  input(i: ExecInputData): void;
}

/** What the API needs of the dispatcher for logs and exec. */
export interface TaskStreams {
  /** Throws NodeUnavailableError when the node has no live session. */
  openLogs(nodeId: string, query: LogsQuery, handlers: LogsHandlers): RemoteStream;
  openExec(nodeId: string, req: ExecSpec, handlers: ExecHandlers): ExecStream;
  /** Whether the node has a live session now (openLogs would not throw NodeUnavailableError). */
  isConnected(nodeId: string): boolean;
}

/** The task's node has no session with this control plane (down, or not connected yet). */
export class NodeUnavailableError extends BerthError {
  override readonly code: string = 'NODE_UNAVAILABLE';
  constructor(readonly nodeId: string) {
    super(`the task's node ${nodeId} is not connected`);
  }
}

export function openLogs(session: NodeSession, q: LogsQuery, h: LogsHandlers): RemoteStream {
  const requestId = randomUUID();
  const handle = remote(session, requestId);
  const ended = once((...args: Parameters<typeof h.end>) => h.end(...args));
  const sent = session.request(
    requestId,
    {
      logsRequest: {
        requestId,
        taskId: q.taskId,
        follow: q.follow,
        ...(q.instanceId ? { instanceId: q.instanceId } : {}),
        ...(q.tail !== undefined ? { tail: q.tail } : {}),
        ...(q.since ? { since: q.since } : {}),
      },
    },
    {
      message: (msg: AgentMessage__Output) => {
        if (handle.cancelled) return;
        if (msg.message === 'logChunk' && msg.logChunk) {
          h.lines(msg.logChunk.lines.map((l) => ({ stream: streamOf(l.stream), line: l.line, ...(l.time ? { time: l.time } : {}) })));
        } else if (msg.message === 'logsEnd' && msg.logsEnd) {
          const e = msg.logsEnd;
          ended(e.errorReason ? { reason: e.errorReason, message: e.error ?? e.errorReason } : undefined);
        }
      },
      closed: (reason) => {
        if (!handle.cancelled) ended({ reason: SESSION_ENDED, message: reason });
      },
    },
  );
  if (!sent) throw new NodeUnavailableError(session.nodeId ?? '');
  return handle;
}

export function openExec(session: NodeSession, req: ExecSpec, h: ExecHandlers): ExecStream {
  const requestId = randomUUID();
  const handle = Object.assign(remote(session, requestId), {
    input(this: { cancelled: boolean }, i: ExecInputData) {
      if (this.cancelled) return;
      session.execInput({
        requestId,
        ...(i.data?.length ? { data: i.data } : {}),
        ...(i.closeStdin ? { closeStdin: true } : {}),
        ...(i.cols && i.rows ? { cols: i.cols, rows: i.rows } : {}),
      });
    },
  });
  const ended = once((...args: Parameters<typeof h.end>) => h.end(...args));
  const sent = session.request(
    requestId,
    {
      execRequest: {
        requestId,
        taskId: req.taskId,
        command: req.command,
        ...(req.instanceId ? { instanceId: req.instanceId } : {}),
        ...(req.tty ? { tty: true } : {}),
        ...(req.stdin ? { stdin: true } : {}),
        ...(req.cols && req.rows ? { cols: req.cols, rows: req.rows } : {}),
      },
    },
    {
      message: (msg: AgentMessage__Output) => {
        if (handle.cancelled) return;
        if (msg.message === 'execOutput' && msg.execOutput) {
          h.output(streamOf(msg.execOutput.stream), msg.execOutput.data);
        } else if (msg.message === 'execEnd' && msg.execEnd) {
          const e = msg.execEnd;
          if (e.errorReason) ended({ failure: { reason: e.errorReason, message: e.error ?? e.errorReason } });
          else ended({ exitCode: e.exitCode ?? -1 });
        }
      },
      closed: (reason) => {
        if (!handle.cancelled) ended({ failure: { reason: SESSION_ENDED, message: reason } });
      },
    },
  );
  if (!sent) throw new NodeUnavailableError(session.nodeId ?? '');
  return handle;
}

function remote(session: NodeSession, requestId: string): RemoteStream & { cancelled: boolean } {
  let paused = false;
  return {
    cancelled: false,
    cancel() {
      if (this.cancelled) return;
      this.cancelled = true;
      session.cancel(requestId);
    },
    pause() {
      if (paused || this.cancelled) return;
      paused = true;
      session.flow(requestId, true);
    },
    resume() {
      if (!paused || this.cancelled) return;
      paused = false;
      session.flow(requestId, false);
    },
  };
}

function streamOf(s: LogStream__Output): OutputStream {
  return s === 'LOG_STREAM_STDERR' ? OutputStream.Stderr : OutputStream.Stdout;
}

function once<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  let called = false;
  return (...args: A) => {
    if (called) return;
    called = true;
    fn(...args);
  };
}
