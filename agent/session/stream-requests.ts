// The agent's side of logs and exec: requests the control plane sends over the Session stream,
// answered from the driver's optional LogReader / ExecStreamer abilities with messages carrying
// the request's id. Each request pulls from the runtime only while the server has not paused it
// and the gRPC stream has room, so a slow reader upstream never makes the agent buffer.
// Must not: decide which task to read (the server names it) or touch the task's lifecycle.
import type { Logger } from 'pino';
import { BerthError, errorMessage } from '../../common/errors.js';
import type { AgentMessage } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { ExecRequest__Output } from '../../proto/generated/berth/v1/ExecRequest.js';
import type { LogStream } from '../../proto/generated/berth/v1/LogStream.js';
import type { LogsRequest__Output } from '../../proto/generated/berth/v1/LogsRequest.js';
import type { ServerMessage__Output } from '../../proto/generated/berth/v1/ServerMessage.js';
import { isExecStreamer, isLogReader, LogsUnsupportedError, type Driver, type ExecInteractive, type ExecIo, type OutputStream } from '../driver/driver.js';
import type { ExecInput__Output } from '../../proto/generated/berth/v1/ExecInput.js';

/** Named reasons of a request that ended in error (LogsEnd / ExecEnd `error_reason`). */
export const StreamErrorReason = {
  InstanceNotFound: 'InstanceNotFound',
  NotSupported: 'NotSupported',
  RuntimeError: 'RuntimeError',
} as const;
export type StreamErrorReason = (typeof StreamErrorReason)[keyof typeof StreamErrorReason];

/** Where answers go: one Session stream. */
export interface StreamSink {
  /** False when the stream's buffer is full: wait for drained() before the next write. */
  write(msg: AgentMessage): boolean;
  drained(): Promise<void>;
}

/** Lines per LogChunk at most (a batch from the runtime may be split). */
const LINES_PER_CHUNK = 500;

class RequestError extends BerthError {
  override readonly code: string = 'STREAM_REQUEST';
  constructor(
    readonly reason: StreamErrorReason,
    message: string,
  ) {
    super(message);
  }
}

interface Running {
  abort: AbortController;
  paused: boolean;
  resume: (() => void) | undefined;
  /** An interactive exec's input: sent to `io` once the command runs, kept in `queued` until then. */
  io?: ExecIo;
  queued?: ExecInput__Output[];
}

export class StreamRequests {
  private readonly running = new Map<string, Running>();
  private readonly log: Logger;

  constructor(
    /** Undefined on nodes without a runtime (hollow nodes): every request ends NotSupported. */
    private readonly driver: Driver | undefined,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'stream-requests' });
  }

  /** Handles a server message if it is about logs or exec; false if it is not. */
  handle(msg: ServerMessage__Output, sink: StreamSink): boolean {
    switch (msg.message) {
      case 'logsRequest':
        if (msg.logsRequest) this.start(msg.logsRequest.requestId, (r) => this.logs(msg.logsRequest!, r, sink), sink, 'logs');
        return true;
      case 'execRequest':
        if (msg.execRequest) this.start(msg.execRequest.requestId, (r) => this.exec(msg.execRequest!, r, sink), sink, 'exec');
        return true;
      case 'execInput':
        if (msg.execInput) this.input(msg.execInput);
        return true;
      case 'cancel':
        if (msg.cancel) this.running.get(msg.cancel.requestId)?.abort.abort();
        return true;
      case 'flow':
        if (msg.flow) this.setPaused(msg.flow.requestId, msg.flow.paused);
        return true;
      default:
        return false;
    }
  }

  /** The session ended: every request with it. */
  cancelAll(): void {
    for (const r of this.running.values()) r.abort.abort();
  }

  /** Requests in progress (for tests and diagnostics). */
  get active(): number {
    return this.running.size;
  }

  /** Requests the server has paused. */
  get paused(): number {
    return [...this.running.values()].filter((r) => r.paused).length;
  }

  private start(id: string, body: (r: Running) => Promise<void>, sink: StreamSink, kind: 'logs' | 'exec'): void {
    if (this.running.has(id)) return;
    const r: Running = { abort: new AbortController(), paused: false, resume: undefined };
    r.abort.signal.addEventListener('abort', () => r.resume?.(), { once: true });
    this.running.set(id, r);
    void body(r)
      .catch((err: unknown) => {
        if (r.abort.signal.aborted) return;
        const reason = err instanceof RequestError ? err.reason : err instanceof LogsUnsupportedError ? StreamErrorReason.NotSupported : StreamErrorReason.RuntimeError;
        const error = errorMessage(err);
        this.log.debug({ requestId: id, kind, reason, err: error }, 'request failed');
        if (kind === 'logs') sink.write({ logsEnd: { requestId: id, errorReason: reason, error } });
        else sink.write({ execEnd: { requestId: id, errorReason: reason, error } });
      })
      .finally(() => this.running.delete(id));
  }

  private async logs(req: LogsRequest__Output, r: Running, sink: StreamSink): Promise<void> {
    const driver = this.driver;
    if (!driver || !isLogReader(driver)) throw new RequestError(StreamErrorReason.NotSupported, 'this node cannot read logs');
    const instance = await this.resolve(driver, req.taskId, req.instanceId);
    const query = { follow: req.follow, ...(req.tail !== undefined ? { tail: req.tail } : {}), ...(req.since ? { since: req.since } : {}) };
    for await (const batch of driver.readLogs(instance, query, r.abort.signal)) {
      for (let i = 0; i < batch.length; i += LINES_PER_CHUNK) {
        const lines = batch.slice(i, i + LINES_PER_CHUNK).map((l) => ({ stream: toPbStream(l.stream), time: l.time ?? '', line: l.line }));
        await this.send(r, sink, { logChunk: { requestId: req.requestId, lines } });
      }
    }
    if (!r.abort.signal.aborted) sink.write({ logsEnd: { requestId: req.requestId } });
  }

  private async exec(req: ExecRequest__Output, r: Running, sink: StreamSink): Promise<void> {
    const driver = this.driver;
    if (!driver || !isExecStreamer(driver)) throw new RequestError(StreamErrorReason.NotSupported, 'this node cannot run commands in its tasks');
    if (!req.command.length) throw new RequestError(StreamErrorReason.RuntimeError, 'empty command');
    if ((req.tty || req.stdin) && !driver.interactiveExec) {
      throw new RequestError(StreamErrorReason.NotSupported, "this node's runtime cannot run interactive commands (stdin, a TTY)");
    }
    const instance = await this.resolve(driver, req.taskId, req.instanceId);
    const interactive: ExecInteractive | undefined =
      req.tty || req.stdin
        ? {
            tty: req.tty,
            stdin: req.stdin,
            ...(req.cols && req.rows ? { size: { cols: req.cols, rows: req.rows } } : {}),
            attached: (io) => {
              r.io = io;
              for (const i of r.queued?.splice(0) ?? []) feed(io, i);
            },
          }
        : undefined;
    for await (const ev of driver.execStream(instance, req.command, r.abort.signal, interactive)) {
      if (ev.kind === 'output') {
        await this.send(r, sink, { execOutput: { requestId: req.requestId, stream: toPbStream(ev.stream), data: ev.data } });
      } else if (!r.abort.signal.aborted) {
        sink.write({ execEnd: { requestId: req.requestId, exitCode: ev.exitCode } });
      }
    }
  }

  /** Input to an interactive exec: fed to it, or kept until it runs. */
  private input(i: ExecInput__Output): void {
    const r = this.running.get(i.requestId);
    if (!r) return;
    if (r.io) feed(r.io, i);
    else (r.queued ??= []).push(i);
  }

  /** Writes one message once the request is not paused and the stream has room. */
  private async send(r: Running, sink: StreamSink, msg: AgentMessage): Promise<void> {
    while (r.paused && !r.abort.signal.aborted) await new Promise<void>((resolve) => (r.resume = resolve));
    r.abort.signal.throwIfAborted();
    if (sink.write(msg)) return;
    await new Promise<void>((resolve) => {
      r.resume = resolve;
      void sink.drained().then(resolve);
    });
  }

  private setPaused(id: string, paused: boolean): void {
    const r = this.running.get(id);
    if (!r) return;
    r.paused = paused;
    if (!paused) {
      r.resume?.();
      r.resume = undefined;
    }
  }

  /** The instance of a task on this node: the one the store named if it is the task's, else found by label. */
  private async resolve(driver: Driver, taskId: string, instanceId: string | undefined): Promise<string> {
    if (instanceId) {
      const inst = await driver.inspect(instanceId);
      if (inst?.taskId === taskId) return inst.id;
    }
    const found = (await driver.list()).find((i) => i.taskId === taskId);
    if (!found) throw new RequestError(StreamErrorReason.InstanceNotFound, `task ${taskId} has no instance on this node`);
    return found.id;
  }
}

function feed(io: ExecIo, i: ExecInput__Output): void {
  if (i.data.length) io.write(i.data);
  if (i.cols && i.rows) io.resize(i.cols, i.rows);
  if (i.closeStdin) io.closeStdin();
}

function toPbStream(s: OutputStream): LogStream {
  return s === 'stderr' ? 'LOG_STREAM_STDERR' : 'LOG_STREAM_STDOUT';
}
