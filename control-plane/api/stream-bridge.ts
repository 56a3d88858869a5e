// Logs and exec across threads: the API runs on a thread of its own (thread.ts), the agents'
// sessions live in the dispatcher on the main thread. `BridgedStreams` is the TaskStreams the
// API thread uses; `serveStreams` answers it on the main thread from the dispatcher. One
// MessagePort carries both directions; every request has an id.
//
// Owns: the message protocol and a mirror of which nodes have a session (isConnected must answer
// at once), and errors as data (code, name, message) rebuilt on the API's side with their class
// (errors cross a MessagePort as plain Errors otherwise). Must not: interpret logs or exec; the
// dispatcher and the API do.
import type { MessagePort } from 'node:worker_threads';
import type { OutputStream } from '../../common/logs.js';
import {
  NodeUnavailableError,
  SESSION_ENDED,
  type ExecHandlers,
  type ExecInputData,
  type ExecSpec,
  type ExecStream,
  type LogsHandlers,
  type LogsQuery,
  type RemoteLogLine,
  type RemoteStream,
  type StreamFailureInfo,
  type TaskStreams,
} from '../dispatcher/task-streams.js';
import { errorData, errorMessage, rebuildError, type ErrorData } from '../../common/errors.js';

/** What the main thread needs of the dispatcher: its streams and news of its sessions. */
export interface SessionSource extends TaskStreams {
  connectedNodes(): string[];
  /** Calls `listener` when a node's session comes or goes; returns the unsubscribe. */
  onSessionChange(listener: (nodeId: string, connected: boolean) => void): () => void;
}

type ExecRequest = ExecSpec;

/** API thread -> main thread. */
type Request =
  | { op: 'logs'; id: number; nodeId: string; query: LogsQuery }
  | { op: 'exec'; id: number; nodeId: string; req: ExecRequest }
  | { op: 'cancel' | 'pause' | 'resume'; id: number }
  | { op: 'input'; id: number; input: ExecInputData };

/** A StreamFailureInfo as it crosses: its error as data. */
type Failure = Omit<StreamFailureInfo, 'error'> & { error?: ErrorData };

/** Main thread -> API thread. */
type Answer =
  | { op: 'sessions'; nodes: string[] }
  | { op: 'session'; nodeId: string; connected: boolean }
  | { op: 'lines'; id: number; lines: RemoteLogLine[] }
  | { op: 'output'; id: number; stream: OutputStream; data: Uint8Array }
  | { op: 'logsEnd'; id: number; failure?: Failure }
  | { op: 'execEnd'; id: number; result: { exitCode?: number; failure?: Failure } };

function toWire({ error, ...f }: StreamFailureInfo): Failure {
  return error ? { ...f, error: errorData(error) } : f;
}

/** The classes the API tells apart, rebuilt as themselves; any other code is a BerthError with it. */
function fromWire({ error, ...f }: Failure, nodeId: string): StreamFailureInfo {
  if (!error) return f;
  return { ...f, error: rebuildError(error, { NODE_UNAVAILABLE: () => new NodeUnavailableError(nodeId) }) };
}

/** Main thread: answers the API thread's requests on `port` from `source` until the returned stop. */
export function serveStreams(port: MessagePort, source: SessionSource): () => void {
  const open = new Map<number, RemoteStream | ExecStream>();
  const send = (a: Answer, transfer?: ArrayBuffer[]) => port.postMessage(a, transfer);
  // A request the dispatcher refuses ends at once with why; nothing thrown here may reach the
  // main thread's loop (it would take the whole server down for one request).
  const refused = (err: unknown): Failure => ({
    reason: err instanceof NodeUnavailableError ? SESSION_ENDED : (err as Error).name || 'Error',
    message: errorMessage(err),
    error: errorData(err),
  });
  send({ op: 'sessions', nodes: source.connectedNodes() });
  const off = source.onSessionChange((nodeId, connected) => send({ op: 'session', nodeId, connected }));
  port.on('message', (r: Request) => {
    switch (r.op) {
      case 'logs':
        try {
          open.set(
            r.id,
            source.openLogs(r.nodeId, r.query, {
              lines: (lines) => send({ op: 'lines', id: r.id, lines }),
              end: (failure) => {
                open.delete(r.id);
                send({ op: 'logsEnd', id: r.id, ...(failure ? { failure: toWire(failure) } : {}) });
              },
            }),
          );
        } catch (err) {
          send({ op: 'logsEnd', id: r.id, failure: refused(err) });
        }
        return;
      case 'exec':
        try {
          open.set(
            r.id,
            source.openExec(r.nodeId, r.req, {
              output: (stream, data) => {
                const copy = new Uint8Array(data); // its own buffer, so it can be moved, not copied again
                send({ op: 'output', id: r.id, stream, data: copy }, [copy.buffer]);
              },
              end: ({ failure, ...result }) => {
                open.delete(r.id);
                send({ op: 'execEnd', id: r.id, result: { ...result, ...(failure ? { failure: toWire(failure) } : {}) } });
              },
            }),
          );
        } catch (err) {
          send({ op: 'execEnd', id: r.id, result: { failure: refused(err) } });
        }
        return;
      case 'cancel':
        open.get(r.id)?.cancel();
        open.delete(r.id);
        return;
      case 'pause':
        open.get(r.id)?.pause();
        return;
      case 'resume':
        open.get(r.id)?.resume();
        return;
      case 'input': {
        const s = open.get(r.id);
        if (s && 'input' in s) s.input(r.input.data ? { ...r.input, data: Buffer.from(r.input.data) } : r.input);
        return;
      }
    }
  });
  return () => {
    off();
    for (const s of open.values()) s.cancel();
    open.clear();
    port.close();
  };
}

type Pending = { kind: 'logs'; h: LogsHandlers; nodeId: string } | { kind: 'exec'; h: ExecHandlers; nodeId: string };

/** API thread: the dispatcher's streams, reached through `port`. */
export class BridgedStreams implements TaskStreams {
  private readonly connected = new Set<string>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly port: MessagePort) {
    port.on('message', (a: Answer) => this.onAnswer(a));
  }

  isConnected(nodeId: string): boolean {
    return this.connected.has(nodeId);
  }

  openLogs(nodeId: string, query: LogsQuery, handlers: LogsHandlers): RemoteStream {
    return this.open({ kind: 'logs', h: handlers, nodeId }, (id) => ({ op: 'logs', id, nodeId, query }));
  }

  openExec(nodeId: string, req: ExecRequest, handlers: ExecHandlers): ExecStream {
    let requestId = 0;
    const stream = this.open({ kind: 'exec', h: handlers, nodeId }, (id) => {
      requestId = id;
      return { op: 'exec', id, nodeId, req };
    });
    return {
      ...stream,
      input: (input) => {
        if (this.pending.has(requestId)) this.port.postMessage({ op: 'input', id: requestId, input } satisfies Request);
      },
    };
  }

  /** Ends every request in flight as if its session had ended (the main thread is gone). */
  close(): void {
    for (const [id, p] of this.pending) this.end(id, p, { reason: SESSION_ENDED, message: 'control plane stopping' });
    this.port.close();
  }

  private open(p: Pending, request: (id: number) => Request): RemoteStream {
    if (!this.connected.has(p.nodeId)) throw new NodeUnavailableError(p.nodeId);
    const id = this.nextId++;
    this.pending.set(id, p);
    this.port.postMessage(request(id));
    let paused = false;
    return {
      cancel: () => {
        if (!this.pending.delete(id)) return;
        this.port.postMessage({ op: 'cancel', id } satisfies Request);
      },
      pause: () => {
        if (paused || !this.pending.has(id)) return;
        paused = true;
        this.port.postMessage({ op: 'pause', id } satisfies Request);
      },
      resume: () => {
        if (!paused || !this.pending.has(id)) return;
        paused = false;
        this.port.postMessage({ op: 'resume', id } satisfies Request);
      },
    };
  }

  private onAnswer(a: Answer): void {
    switch (a.op) {
      case 'sessions':
        this.connected.clear();
        for (const n of a.nodes) this.connected.add(n);
        return;
      case 'session':
        if (a.connected) this.connected.add(a.nodeId);
        else this.connected.delete(a.nodeId);
        return;
      case 'lines': {
        const p = this.pending.get(a.id);
        if (p?.kind === 'logs') p.h.lines(a.lines);
        return;
      }
      case 'output': {
        const p = this.pending.get(a.id);
        if (p?.kind === 'exec') p.h.output(a.stream, Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength));
        return;
      }
      case 'logsEnd': {
        const p = this.pending.get(a.id);
        if (p) this.end(a.id, p, a.failure && fromWire(a.failure, p.nodeId));
        return;
      }
      case 'execEnd': {
        const p = this.pending.get(a.id);
        if (p?.kind === 'exec') {
          this.pending.delete(a.id);
          const { failure, ...result } = a.result;
          p.h.end({ ...result, ...(failure ? { failure: fromWire(failure, p.nodeId) } : {}) });
        }
        return;
      }
    }
  }

  private end(id: number, p: Pending, failure: StreamFailureInfo | undefined): void {
    this.pending.delete(id);
    if (p.kind === 'logs') p.h.end(failure);
    else p.h.end(failure ? { failure } : { exitCode: -1 });
  }
}
