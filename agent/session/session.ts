// Agent session: the agent's one connection to the control plane's dispatcher.
//
// Owns: Register (the node's certificate -> registration; joining first with the join token when
// the node has no valid certificate, identity.ts) then one Session stream, reconnecting with
// jittered exponential backoff, to another server of the cluster when there are several (the
// servers send their agent addresses over the session; server-list.ts keeps them and picks the
// next); on every (re)connect it resends every status the worker knows and hands
// the worker the full assignment set (the worker keeps what already runs, so nothing is started
// twice); status changes go upstream in batches; heartbeats at the interval the server gave.
// Must not: know about containers or decide anything about tasks: that is the worker's.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BerthError, errorMessage } from '../../common/errors.js';
import type { NodeNetwork, NodeResources, ServiceEndpoints, Task } from '../../common/types.js';
import type { DispatcherClient } from '../../proto/generated/berth/v1/Dispatcher.js';
import type { AgentMessage } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { RegisterResponse__Output } from '../../proto/generated/berth/v1/RegisterResponse.js';
import type { ServerMessage__Output } from '../../proto/generated/berth/v1/ServerMessage.js';
import type { Task__Output } from '../../proto/generated/berth/v1/Task.js';
import { endpointsFromProto, networkFromProto, reportToProto, taskFromProto, usageToProto } from '../../proto/convert.js';
import type { UsageReport } from '../../common/usage.js';
import { KEEPALIVE_OPTIONS } from '../../proto/load.js';
import type { TaskStatusReport } from '../../common/task-status.js';
import type { TaskWorker } from '../worker/types.js';
import { backoffDelay, DEFAULT_BACKOFF, delayBeforeFence, type BackoffOptions } from './backoff.js';
import type { StreamRequests, StreamSink } from './stream-requests.js';
import type { PemKeyPair } from '../../common/pki/certs.js';
import { NodeIdentity } from './identity.js';
import { NodeIdentityError } from './identity-errors.js';
import { ServerList } from './server-list.js';

/** The control plane refused the join token: retrying cannot help. */
export class JoinRefusedError extends BerthError {
  override readonly code: string = 'JOIN_REFUSED';
  constructor(readonly server: string, readonly detail: string) {
    super(`the server at ${server} refused to register this node: ${detail}`);
  }
}

export interface StatusRejectionNotice {
  taskId: string;
  reason: string;
  message: string;
}

export interface AgentSessionOptions {
  /** `HOST:PORT` of the dispatcher (tried first; the servers tell the others). */
  server: string;
  /** Needed only to join: a node with a valid certificate connects with it. */
  joinToken?: string;
  /** Where the node's key and certificates are kept; undefined: in memory (hollow nodes). */
  identityDir?: string;
  /** One key for the certificates of many nodes of a process (hollow nodes). */
  sharedKey?: PemKeyPair;
  nodeName: string;
  labels: Record<string, string>;
  capacity: NodeResources;
  runtime: 'docker' | 'process';
  agentVersion: string;
  worker: TaskWorker;
  logger: Logger;
  backoff?: BackoffOptions;
  /** How long status changes are gathered before they go upstream (default 20 ms). */
  statusFlushMs?: number;
  /** Called when the server refuses a status report (also logged). */
  onRejected?: (r: StatusRejectionNotice) => void;
  /**
   * How long a node cut off from the control plane keeps its tasks running before it stops
   * them (the worker's fence). Default: 3 x the heartbeat grace the server announced, or
   * DEFAULT_FENCE_AFTER_MS if it announced none.
   */
  fenceAfterMs?: number;
  /** Serves the server's logs and exec requests; without it they are ignored. */
  streams?: StreamRequests;
  /** The node's cluster network, as the server sends it (before the assignments). */
  onNetwork?: (network: NodeNetwork) => void;
  /** Every service's endpoints, as the server sends them (before the assignments, then on changes). */
  onEndpoints?: (endpoints: ServiceEndpoints[]) => void;
  /**
   * The node's containers' usage, sent every `usageIntervalMs` while the session is up;
   * undefined (or no function: hollow nodes, process runtime) sends nothing.
   */
  usage?: () => UsageReport | undefined;
  /** Default 5 s. */
  usageIntervalMs?: number;
}

/** How often usage goes upstream by default: one small message per node. */
export const DEFAULT_USAGE_INTERVAL_MS = 5000;

/** Fence delay when neither the flag nor the server says better. */
export const DEFAULT_FENCE_AFTER_MS = 15_000;
/** The fence waits this many heartbeat grace periods: the server has long replaced the tasks. */
const FENCE_GRACE_PERIODS = 3;

/**
 * The gRPC channel's own reconnect backoff grows to 2 minutes by default, and while it waits
 * every call fails at once with the last error: the session's backoff (and its last attempt
 * before the fence) would find a control plane that is back refused all the same. Keep the
 * channel's short so that the session's governs.
 */
const CHANNEL_RECONNECT_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // The channel's connection is its own, not in grpc-js's process-wide pool: an agent has one
  // channel, and many agents in one process (hollow nodes) made the pool's periodic scan of
  // every connection 6% of that process's CPU.
  'grpc.use_local_subchannel_pool': 1,
};

const REGISTER_TIMEOUT_MS = 10_000;
/** Reports per message when many tasks change at once. */
const REPORTS_PER_MESSAGE = 1000;
/** How long a clean stop waits for the server to close the stream after the agent ended it. */
const CLOSE_WAIT_MS = 1000;

type SessionCall = grpc.ClientDuplexStream<AgentMessage, ServerMessage__Output>;

export class AgentSession {
  /** The node's key and certificate, and the mutual-TLS client made of them. */
  readonly identity: NodeIdentity;
  private readonly log: Logger;
  private readonly pending = new Map<string, TaskStatusReport>();
  private call: SessionCall | undefined;
  private synced = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private loop: Promise<Error | undefined> | undefined;
  private currentNodeId: string | undefined;
  private registering: grpc.ClientUnaryCall | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  /** When the armed fence fires (ms since the epoch). */
  private fenceAt: number | undefined;
  private announcedGraceMs: number | undefined;
  /** Set when a renewed certificate needs a new connection: the registration to resume with. */
  private resume: RegisterResponse__Output | undefined;
  private lastRegistration: RegisterResponse__Output | undefined;
  /** The servers this agent may reach, and which one it dials now. */
  readonly servers: ServerList;

  constructor(private readonly opts: AgentSessionOptions) {
    this.log = opts.logger.child({ component: 'session' });
    this.servers = new ServerList({ configured: opts.server, ...(opts.identityDir ? { dir: opts.identityDir } : {}), logger: this.log });
    this.identity = new NodeIdentity({
      server: opts.server,
      ...(opts.joinToken ? { joinToken: opts.joinToken } : {}),
      ...(opts.identityDir ? { dir: opts.identityDir } : {}),
      ...(opts.sharedKey ? { sharedKey: opts.sharedKey } : {}),
      channelOptions: { ...KEEPALIVE_OPTIONS, ...CHANNEL_RECONNECT_OPTIONS },
      logger: this.log,
    });
    opts.worker.onStatus((r) => this.onWorkerStatus(r));
  }

  private get client(): DispatcherClient {
    return this.identity.client();
  }

  /** The mutual-TLS client of this node, for calls beside the session (secrets, volumes); throws before the node has joined. */
  dispatcherClient(): DispatcherClient {
    return this.client;
  }

  /** The node id the control plane gave this node (after the first registration). */
  get nodeId(): string | undefined {
    return this.currentNodeId;
  }

  /** The dispatcher address the session dials now. */
  get server(): string {
    return this.identity.target;
  }

  /** True while a session is up and its full assignment set has been applied. */
  get connected(): boolean {
    return this.synced;
  }

  /**
   * Starts connecting (and reconnecting) in the background. The promise resolves when the
   * session ends for good: undefined after stop(), a JoinRefusedError if the server refused
   * the join token.
   */
  start(): Promise<Error | undefined> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** Ends the stream cleanly and stops reconnecting. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.registering?.cancel();
    const call = this.call;
    if (call) {
      this.flushStatuses();
      const closed = new Promise<void>((resolve) => {
        call.once('status', () => resolve());
        setTimeout(resolve, CLOSE_WAIT_MS).unref();
      });
      call.end();
      await closed;
      call.cancel();
    }
    await this.loop;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.disarmFence();
    this.identity.close();
  }

  private async run(): Promise<Error | undefined> {
    const backoff = this.opts.backoff ?? DEFAULT_BACKOFF;
    let attempt = 0;
    await this.servers.load();
    while (!this.stopping) {
      let established = false;
      try {
        const reg = this.resume ?? (await this.register());
        this.resume = undefined;
        if (this.stopping) break;
        this.lastRegistration = reg;
        established = await this.runStream(reg);
      } catch (err) {
        if (err instanceof JoinRefusedError || err instanceof NodeIdentityError) {
          this.log.error({ err: err.message }, 'join refused');
          return err;
        }
        if ((err as grpc.ServiceError).code === grpc.status.FAILED_PRECONDITION) {
          // Too old or too new for this server: said clearly, and tried again (the servers may be
          // upgraded meanwhile).
          this.log.error({ server: this.server, agentVersion: this.opts.agentVersion }, `refused by the server: ${(err as grpc.ServiceError).details}`);
        } else {
          this.log.warn({ server: this.server, err: errorMessage(err) }, 'cannot reach the control plane');
        }
      }
      if (this.stopping) break;
      if (established) attempt = 0;
      if (this.resume) continue; // a renewed certificate: reconnect at once with it
      // The server did not answer, or its session ended: the next attempt goes to another one.
      const from = this.server;
      const to = this.servers.advance();
      if (to !== from) {
        this.identity.setServer(to);
        this.log.info({ from, to }, 'moving to another server');
      }
      const delay = delayBeforeFence(backoffDelay(attempt++, backoff), Date.now(), this.fenceAt);
      this.log.info({ server: to, delayMs: delay, attempt }, 'reconnecting');
      await this.sleep(delay);
    }
    return undefined;
  }

  private async register(): Promise<RegisterResponse__Output> {
    const o = this.opts;
    const registration = {
      nodeName: o.nodeName,
      labels: o.labels,
      capacity: { cpuMillicores: o.capacity.cpu, memoryBytes: o.capacity.memory },
      runtime: o.runtime,
      agentVersion: o.agentVersion,
    };
    try {
      const joined = await this.identity.ensure(registration);
      if (joined) {
        this.identity.startRenewing(() => this.reconnectWithRenewedCertificate());
        return joined;
      }
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.INVALID_ARGUMENT) throw new JoinRefusedError(this.server, e.details);
      throw err;
    }
    this.identity.startRenewing(() => this.reconnectWithRenewedCertificate());
    return new Promise((resolve, reject) => {
      this.registering = this.client.Register(
        registration,
        { deadline: Date.now() + REGISTER_TIMEOUT_MS },
        (err, res) => {
          this.registering = undefined;
          if (err?.code === grpc.status.UNAUTHENTICATED) {
            // The certificate is not (or no longer) accepted: join again with the token, if any.
            this.log.warn({ reason: err.details }, 'node certificate refused');
            this.identity.invalidate();
            reject(err);
          } else if (err?.code === grpc.status.PERMISSION_DENIED) {
            // Revoked (the node was removed), or the certificate of another node: it is of no use.
            void this.identity.forget();
            reject(new JoinRefusedError(this.server, err.details));
          } else if (err) {
            const fatal = err.code === grpc.status.INVALID_ARGUMENT;
            reject(fatal ? new JoinRefusedError(this.server, err.details) : err);
          } else if (!res?.nodeId) {
            reject(new Error('empty registration response'));
          } else {
            resolve(res);
          }
        },
      );
    });
  }

  /** One Session stream, until it ends. Resolves true if it got as far as the full set. */
  private runStream(reg: RegisterResponse__Output): Promise<boolean> {
    if (this.currentNodeId !== reg.nodeId) {
      this.log.info({ nodeId: reg.nodeId }, 'registered');
      this.currentNodeId = reg.nodeId;
    }
    // Servers that announce their heartbeat grace (field heartbeat_grace_ms) set the default fence.
    const grace = (reg as Partial<{ heartbeatGraceMs: number }>).heartbeatGraceMs;
    if (grace) this.announcedGraceMs = grace;
    return new Promise<boolean>((resolve) => {
      const call = this.client.Session();
      let fullSet: Task[] = [];
      let gotFullSet = false;
      let done = false;
      const heartbeat = setInterval(() => {
        if (!done) call.write({ heartbeat: {} });
      }, Math.max(100, reg.heartbeatIntervalMs || 1000));
      const usage = this.opts.usage;
      let lastUsageAt = 0;
      const sendUsage = (): void => {
        if (done || !this.synced || !usage) return;
        const report = usage();
        // The same sample twice tells the server nothing new.
        if (!report || report.sampledAtMs === lastUsageAt) return;
        lastUsageAt = report.sampledAtMs;
        call.write({ usage: usageToProto(report) });
      };
      const usageTimer = usage ? setInterval(sendUsage, this.opts.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS) : undefined;
      const finish = (why: string, err?: Error): void => {
        if (done) return;
        done = true;
        clearInterval(heartbeat);
        if (usageTimer) clearInterval(usageTimer);
        this.opts.streams?.cancelAll();
        if (this.call === call) this.call = undefined;
        const wasSynced = this.synced;
        this.synced = false;
        if (!this.stopping) this.log.warn({ server: this.server, why, err: err?.message }, 'session ended');
        if (wasSynced && !this.stopping) this.armFence();
        resolve(gotFullSet);
      };
      const sink: StreamSink = {
        write: (m) => (done ? true : call.write(m)),
        drained: () => new Promise<void>((resolve) => call.once('drain', () => resolve())),
      };
      call.on('data', (msg: ServerMessage__Output) => {
        if (this.opts.streams?.handle(msg, sink)) return;
        if (msg.message === 'assignments' && msg.assignments) {
          fullSet.push(...this.decodeTasks(msg.assignments.tasks));
          if (!msg.assignments.complete) return;
          this.opts.worker.setAssignments(fullSet);
          this.log.info({ server: this.server, tasks: fullSet.length }, 'session established: full assignment set applied');
          fullSet = [];
          gotFullSet = true;
          this.synced = true;
          this.disarmFence();
          // A node that moved to this server shows in its usage at once, not an interval later.
          sendUsage();
        } else if (msg.message === 'changes' && msg.changes) {
          for (const t of this.decodeTasks(msg.changes.upserts)) this.opts.worker.upsert(t);
          for (const id of msg.changes.removedTaskIds) this.opts.worker.remove(id);
        } else if (msg.message === 'servers' && msg.servers) {
          void this.servers.update(msg.servers.agentAddresses);
        } else if (msg.message === 'network' && msg.network) {
          this.opts.onNetwork?.(networkFromProto(msg.network));
        } else if (msg.message === 'endpoints' && msg.endpoints) {
          this.opts.onEndpoints?.(endpointsFromProto(msg.endpoints));
        } else if (msg.message === 'rejections' && msg.rejections) {
          for (const r of msg.rejections.rejections) {
            this.log.warn({ taskId: r.taskId, reason: r.reason }, `status report rejected: ${r.message}`);
            this.opts.onRejected?.({ taskId: r.taskId, reason: r.reason, message: r.message });
          }
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (err.code === grpc.status.UNAUTHENTICATED) this.log.warn('session credentials refused; registering again');
        finish('error', err);
      });
      call.on('status', (s: grpc.StatusObject) => finish(`status ${grpc.status[s.code]}`));
      call.on('end', () => finish('ended by server'));

      this.call = call;
      // The hello carries everything the worker knows, so whatever was queued is superseded.
      this.pending.clear();
      const statuses = this.opts.worker.statuses().map(reportToProto);
      call.write({ hello: { nodeId: reg.nodeId, sessionToken: reg.sessionToken, statuses } });
    });
  }

  /**
   * The certificate was renewed: the session moves to a connection made with the new one, with
   * the same registration (its session token still holds), so the node is never seen as gone.
   */
  private reconnectWithRenewedCertificate(): void {
    const call = this.call;
    if (!call || this.stopping || !this.lastRegistration) return;
    this.resume = this.lastRegistration;
    this.flushStatuses();
    call.end();
  }

  /** The delay a cut-off node waits before stopping its tasks. */
  get fenceAfterMs(): number {
    if (this.opts.fenceAfterMs !== undefined) return this.opts.fenceAfterMs;
    return this.announcedGraceMs ? FENCE_GRACE_PERIODS * this.announcedGraceMs : DEFAULT_FENCE_AFTER_MS;
  }

  /**
   * Lost the session: if it does not come back (with its full assignment set) in time, stop the
   * tasks; the control plane has marked this node down and replaced them elsewhere.
   */
  private armFence(): void {
    if (this.fenceTimer || !this.opts.worker.fence) return;
    const after = this.fenceAfterMs;
    this.fenceAt = Date.now() + after;
    this.fenceTimer = setTimeout(() => {
      this.fenceTimer = undefined;
      this.fenceAt = undefined;
      if (this.synced || this.stopping) return;
      this.log.warn({ fenceAfterMs: after }, 'no contact with the control plane: fencing this node');
      this.opts.worker.fence?.();
    }, after);
  }

  private disarmFence(): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    this.fenceAt = undefined;
  }

  private decodeTasks(tasks: Task__Output[]): Task[] {
    const out: Task[] = [];
    for (const t of tasks) {
      try {
        out.push(taskFromProto(t));
      } catch (err) {
        this.log.error({ taskId: t.id, err: errorMessage(err) }, 'undecodable task ignored');
      }
    }
    return out;
  }

  private onWorkerStatus(report: TaskStatusReport): void {
    this.pending.set(report.taskId, report);
    if (this.flushTimer || this.stopping) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushStatuses();
    }, this.opts.statusFlushMs ?? 20);
  }

  /** Sends queued reports if a session is up; otherwise the next hello will carry them. */
  private flushStatuses(): void {
    const call = this.call;
    if (!call || this.pending.size === 0) return;
    const reports = [...this.pending.values()].map(reportToProto);
    this.pending.clear();
    for (let i = 0; i < reports.length; i += REPORTS_PER_MESSAGE) {
      call.write({ statuses: { reports: reports.slice(i, i + REPORTS_PER_MESSAGE) } });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
