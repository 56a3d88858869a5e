// One agent's Session stream, server side: authenticate the hello, send the full assignment set,
// then the changes (gathered over one turn of the event loop, so a burst of placements is one
// message), and pass status reports and heartbeats on. Logs and exec requests to the agent travel
// on the same stream; their answers are routed back by request id (stream-router.ts). After the
// full set, and whenever it changes, the list of every server's dispatcher address.
import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TaskStatusReport } from '../../common/task-status.js';
import type { NodeNetwork, ServiceEndpoints, Task } from '../../common/types.js';
import type { AgentMessage__Output } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { ExecInput } from '../../proto/generated/berth/v1/ExecInput.js';
import type { ServerMessage } from '../../proto/generated/berth/v1/ServerMessage.js';
import type { Task as PbTask } from '../../proto/generated/berth/v1/Task.js';
import type { TaskStatusReport__Output } from '../../proto/generated/berth/v1/TaskStatusReport.js';
import { endpointsToProto, networkToProto, reportFromProto, taskToProto, usageFromProto } from '../../proto/convert.js';
import type { UsageReport } from '../../common/usage.js';
import { StatusRejectReason } from './rules.js';
import type { StatusRejection } from './status-writer.js';
import { StreamRouter, type StreamHandler } from './stream-router.js';
import { errorMessage } from '../../common/errors.js';

/** Tasks per message: a full set of many thousands of tasks goes in several messages. */
export const TASKS_PER_MESSAGE = 500;

export type SessionCall = ServerDuplexStream<AgentMessage__Output, ServerMessage>;

/** What a session needs from the dispatcher around it. */
export interface SessionHost {
  /**
   * Undefined if this connection may speak for `nodeId` (its client certificate is that node's,
   * valid and not revoked), else the status to end the session with. Asked on every message.
   */
  authorize?(nodeId: string): { code: GrpcStatus; details: string } | undefined;
  /** Node id of a valid (node id, session token) pair, else undefined. */
  authenticate(nodeId: string, sessionToken: string): string | undefined;
  /** The session is live for this node: replaces any older session of the same node. */
  attach(session: NodeSession): void;
  detach(session: NodeSession): void;
  /** Any message from the node: it is alive. */
  alive(nodeId: string): void;
  /** The node's latest usage report. */
  usage?(nodeId: string, report: UsageReport): void;
  tasksOf(nodeId: string): Task[];
  submitStatuses(nodeId: string, reports: TaskStatusReport[]): StatusRejection[];
  /** Every server's dispatcher address, sent after the full set (none: not sent). */
  agentAddresses?(): string[];
  /** The node's container network, when the cluster has node subnets: sent before its tasks. */
  networkOf?(nodeId: string): NodeNetwork | undefined;
  /** Every service's endpoints, when the cluster has service addresses: sent before the tasks. */
  endpoints?(): ServiceEndpoints[] | undefined;
}

export class NodeSession {
  nodeId: string | undefined;
  private closed = false;
  private readonly upserts = new Map<string, Task>();
  private readonly removals = new Set<string>();
  private flushQueued = false;
  private log: Logger;
  private readonly streams = new StreamRouter();

  constructor(
    private readonly call: SessionCall,
    private readonly host: SessionHost,
    logger: Logger,
  ) {
    this.log = logger;
    call.on('data', (msg: AgentMessage__Output) => this.onMessage(msg));
    call.on('end', () => this.close());
    call.on('error', (err: Error) => {
      this.log.debug({ err: err.message }, 'session stream error');
      this.close();
    });
    call.on('cancelled', () => this.close());
  }

  /** A task assigned to this node was created or changed in a way the agent acts on. */
  upsert(task: Task): void {
    this.removals.delete(task.id);
    this.upserts.set(task.id, task);
    this.queueFlush();
  }

  /** A task is no longer assigned to this node (deleted or moved). */
  remove(taskId: string): void {
    this.upserts.delete(taskId);
    this.removals.add(taskId);
    this.queueFlush();
  }

  /**
   * Sends a logs or exec request; the agent's answers go to `handler` until the end message (or
   * until this session closes). False if the session is already closed.
   */
  request(requestId: string, msg: ServerMessage, handler: StreamHandler): boolean {
    if (this.closed) return false;
    this.streams.add(requestId, handler);
    this.send(msg);
    return true;
  }

  /** Cancels a request: the agent stops it, and its later answers are dropped. */
  cancel(requestId: string): void {
    this.streams.forget(requestId);
    this.send({ cancel: { requestId } });
  }

  /** Input to an interactive exec request (stdin, its end, a resize). */
  execInput(input: ExecInput): void {
    this.send({ execInput: input });
  }

  /** Pauses or resumes the answers to a request (the reader upstream is slow, or caught up). */
  flow(requestId: string, paused: boolean): void {
    this.send({ flow: { requestId, paused } });
  }

  /** Tells the agent where every server's dispatcher is (after its hello only). */
  sendServers(agentAddresses: string[]): void {
    if (!this.nodeId) return;
    this.send({ servers: { agentAddresses } });
  }

  /** Ends the stream from the server side (a newer session of the node, or shutdown). */
  end(reason: string): void {
    if (this.closed) return;
    this.log.info({ reason }, 'closing session');
    this.close();
  }

  private onMessage(msg: AgentMessage__Output): void {
    if (this.closed) return;
    if (!this.nodeId) {
      this.onHello(msg);
      return;
    }
    const denied = this.host.authorize?.(this.nodeId);
    if (denied) {
      this.log.warn({ reason: denied.details }, 'session ended: the node\'s certificate no longer holds');
      this.host.detach(this);
      this.fail(denied.code, denied.details);
      return;
    }
    this.host.alive(this.nodeId);
    if (this.streams.route(msg)) return;
    if (msg.message === 'statuses' && msg.statuses) {
      this.submit(msg.statuses.reports);
    } else if (msg.message === 'usage' && msg.usage) {
      this.host.usage?.(this.nodeId, usageFromProto(msg.usage));
    } else if (msg.message === 'hello') {
      this.log.warn('second hello on one session ignored');
    }
  }

  private onHello(msg: AgentMessage__Output): void {
    const hello = msg.message === 'hello' ? msg.hello : undefined;
    const denied = hello ? this.host.authorize?.(hello.nodeId) : undefined;
    if (denied) {
      this.log.warn({ nodeId: hello?.nodeId, reason: denied.details }, 'session refused');
      this.fail(denied.code, denied.details);
      return;
    }
    const nodeId = hello ? this.host.authenticate(hello.nodeId, hello.sessionToken) : undefined;
    if (!hello || !nodeId) {
      this.log.warn({ nodeId: hello?.nodeId }, 'session refused: invalid node credentials');
      this.fail(GrpcStatus.UNAUTHENTICATED, 'invalid node id or session token: register again');
      return;
    }
    this.nodeId = nodeId;
    this.log = this.log.child({ nodeId });
    this.host.attach(this);
    this.host.alive(nodeId);
    // The network first, so the agent's containers start on it; then the full set of tasks
    // (changes queued meanwhile are sent after it).
    const network = this.host.networkOf?.(nodeId);
    if (network) this.sendNetwork(network);
    const endpoints = this.host.endpoints?.();
    if (endpoints) this.sendEndpoints(endpoints);
    const tasks = this.host.tasksOf(nodeId);
    this.upserts.clear();
    this.removals.clear();
    for (let i = 0; i === 0 || i < tasks.length; i += TASKS_PER_MESSAGE) {
      const chunk = tasks.slice(i, i + TASKS_PER_MESSAGE);
      this.send({ assignments: { tasks: chunk.map(taskToProto), complete: i + TASKS_PER_MESSAGE >= tasks.length } });
    }
    const servers = this.host.agentAddresses?.() ?? [];
    if (servers.length) this.sendServers(servers);
    this.log.info({ tasks: tasks.length, reported: hello.statuses.length }, 'session started');
    this.submit(hello.statuses);
  }

  private submit(reports: TaskStatusReport__Output[]): void {
    const nodeId = this.nodeId!;
    const valid: TaskStatusReport[] = [];
    const rejected: StatusRejection[] = [];
    for (const r of reports) {
      try {
        valid.push(reportFromProto(r));
      } catch (err) {
        rejected.push({ taskId: r.taskId, reason: StatusRejectReason.InvalidStatus, message: errorMessage(err) });
      }
    }
    rejected.push(...this.host.submitStatuses(nodeId, valid));
    if (rejected.length > 0) this.send({ rejections: { rejections: rejected } });
  }

  private queueFlush(): void {
    if (this.flushQueued || this.closed || !this.nodeId) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flushChanges();
    });
  }

  private flushChanges(): void {
    if (this.closed) return;
    const upserts: PbTask[] = [...this.upserts.values()].map(taskToProto);
    const removed = [...this.removals];
    this.upserts.clear();
    this.removals.clear();
    for (let i = 0; i < Math.max(upserts.length, removed.length); i += TASKS_PER_MESSAGE) {
      this.send({ changes: { upserts: upserts.slice(i, i + TASKS_PER_MESSAGE), removedTaskIds: removed.slice(i, i + TASKS_PER_MESSAGE) } });
    }
  }

  /** The node's network changed (a peer's route): the agent rewires. */
  sendNetwork(network: NodeNetwork): void {
    this.send({ network: networkToProto(network) });
  }

  /** The services' endpoints changed: the full set, which the agent's resolver and rules follow. */
  sendEndpoints(endpoints: ServiceEndpoints[]): void {
    if (this.nodeId) this.send({ endpoints: endpointsToProto(endpoints) });
  }

  private send(msg: ServerMessage): void {
    if (this.closed) return;
    // gRPC buffers what the peer has not read yet; the agent reads as fast as its worker allows.
    this.call.write(msg);
  }

  private fail(code: GrpcStatus, details: string): void {
    if (this.closed) return;
    this.closed = true;
    this.streams.closeAll('the node\'s session ended');
    this.call.emit('error', { code, details, name: 'SessionError', message: details });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.streams.closeAll('the node\'s session ended');
    if (this.nodeId) this.host.detach(this);
    try {
      this.call.end();
    } catch {
      // already ended by the peer
    }
  }
}
