// Dispatcher: the control plane's gRPC face towards the node agents.
//
// Owns: node registration (join token + CSR -> node id and certificate, join.ts; every other call
// authenticated by the node's certificate, tls.ts), one Session stream per agent (the full set of
// its assigned tasks, then changes), task status reports written back to etcd (validated, forward
// only, batched), node liveness from heartbeats (kept in memory; only the ready/down transitions
// are written), every server's agent address told to the agents, logs and exec requests to a
// node's agent over its session (task-streams.ts), and servers joining the control plane with the
// manager token (join-server.ts).
// Must not: decide where tasks run or replace the tasks of a dead node (scheduler and
// orchestrator do; onNodeDown is the hook), nor write a task's spec or desired state.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { EventReason, EventType } from '../../common/events.js';
import { formatCpu, formatMemory } from '../../common/quantity.js';
import { NodeState, type Node, type Task } from '../../common/types.js';
import type { RegisterRequest__Output } from '../../proto/generated/berth/v1/RegisterRequest.js';
import type { RegisterResponse } from '../../proto/generated/berth/v1/RegisterResponse.js';
import type { DispatcherHandlers } from '../../proto/generated/berth/v1/Dispatcher.js';
import { KEEPALIVE_OPTIONS, loadBerthProto } from '../../proto/load.js';
import type { SharedInformers } from '../store/shared-informers.js';
import type { Store } from '../store/store.js';
import { keys } from '../store/keys.js';
import { NodeRegistry } from './node-registry.js';
import { UsageBook } from './usage-book.js';
import { NodeNetworkFeed, type NodeSubnets } from './node-network.js';
import { ServiceAddresses } from './service-addresses.js';
import { NodeSession, type SessionCall, type SessionHost } from './node-session.js';
import { AssignmentChange, expiredNodes } from './rules.js';
import { StatusWriter } from './status-writer.js';
import { TaskView } from './task-view.js';
import type { EventRecorder } from '../events/recorder.js';
import { taskStatusEvents } from './task-events.js';
import {
  NodeUnavailableError,
  openExec,
  openLogs,
  type ExecHandlers,
  type ExecSpec,
  type ExecStream,
  type LogsHandlers,
  type LogsQuery,
  type RemoteStream,
  type TaskStreams,
} from './task-streams.js';
import { errorMessage } from '../../common/errors.js';
import { agentVersionProblem, clientVersion } from '../../common/version.js';
import { RevokedNodes } from '../pki/revocations.js';
import { join, renew, type CertificateHost } from './join.js';
import { joinServer, type ServerJoinHost } from './join-server.js';
import { dispatcherCredentials, isDenied, PeerVerifier, type CallDenied, type DispatcherTls, type PeerNode } from './tls.js';
import type { SessionLiveness } from '../leader/sessions.js';
import type { Secrets } from '../secrets/secrets.js';
import type { Registries } from '../secrets/registries.js';
import { Configs } from '../secrets/configs.js';
import { workloadHandlers } from './workloads.js';
import type { AgentAddressBook } from '../leader/server-directory.js';

export interface DispatcherOptions {
  /** The version agents are checked against (default: this build's). */
  serverVersion?: string;
  store: Store;
  logger: Logger;
  /** `HOST:PORT`; port 0 picks a free port (see `port`). */
  listen: string;
  verifyJoinToken: (token: string) => boolean | Promise<boolean>;
  /** The cluster CA and the server certificate: every connection is TLS, every call but Join mutual TLS. */
  tls: DispatcherTls;
  /** Interval the agents are told to send heartbeats at (default 1000 ms). */
  heartbeatIntervalMs?: number;
  /** Silence after which a node is marked down (default 5000 ms). */
  heartbeatGraceMs?: number;
  /** Called once per transition of a node to `down`. */
  onNodeDown?: (nodeId: string) => void;
  /** Where to record what happens to nodes and tasks. */
  events?: EventRecorder;
  /** The process's informers to read (the server's); without them, the dispatcher watches on its own. */
  informers?: SharedInformers;
  /**
   * In a server (one of several sharing etcd): where to publish the sessions held here. This
   * dispatcher then judges only its own sessions' heartbeats and reports them silent; the
   * leader marks nodes down (leader/node-liveness.ts). Without it, it marks them down itself.
   */
  sessions?: SessionLiveness;
  /** The cluster's secrets: their values go to the node of a task that uses them (workloads.ts). */
  secrets?: Secrets;
  /** Registry credentials: to the node of a task pulling its image from that registry (workloads.ts). */
  registries?: Registries;
  /** Every server's agent address: sent to each agent at session start and when it changes. */
  servers?: AgentAddressBook;
  /** Lets other servers join (JoinServer); without it the call is refused. */
  serverJoin?: Omit<ServerJoinHost, 'store' | 'log'>;
  /** The cluster's node subnets (`--node-subnets`): docker nodes get one and routes to the others'. */
  nodeSubnets?: NodeSubnets;
  /** The block services' virtual addresses come from (`--service-addresses`); needs `informers`. */
  serviceAddresses?: string;
  /** This server's name, on the usage it reports (default `local`). */
  serverName?: string;
}

export const RUNTIMES = ['docker', 'process'] as const;

/**
 * After a control-plane start, agents get this long on top of the heartbeat grace to come back:
 * the longest reconnect backoff of an agent (agent/session/backoff.ts), which it may have
 * reached while the control plane was away.
 */
export const RESTART_RECONNECT_ALLOWANCE_MS = 10_000;

/** Reasons written on a node's status. */
export const NodeStatusMessage = {
  HeartbeatMissed: 'no heartbeat within the grace period',
} as const;

export class Dispatcher implements TaskStreams {
  private readonly log: Logger;
  private readonly heartbeatIntervalMs: number;
  private readonly graceMs: number;
  /** This server's Berth version: agents of its minor version and the one before are accepted. */
  private readonly serverVersion: string;
  private readonly registry: NodeRegistry;
  private readonly network: NodeNetworkFeed | undefined;
  private readonly addresses: ServiceAddresses | undefined;
  private readonly index: TaskView;
  private readonly writer: StatusWriter;
  private readonly sessions = new Map<string, NodeSession>();
  /** The latest usage of each node whose session is here. */
  readonly usage: UsageBook;
  private readonly sessionListeners = new Set<(nodeId: string, connected: boolean) => void>();
  /** Session tokens handed out by Register, valid until the node registers again. */
  private readonly sessionTokens = new Map<string, Buffer>();
  private readonly lastSeen = new Map<string, number>();
  private readonly down = new Set<string>();
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private livenessTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopping: Promise<void> | undefined;
  private readonly revoked: RevokedNodes;
  private readonly peers: PeerVerifier;
  private offServers: () => void = () => true;

  constructor(private readonly opts: DispatcherOptions) {
    this.log = opts.logger.child({ component: 'dispatcher' });
    this.revoked = new RevokedNodes(opts.store, this.log);
    this.peers = new PeerVerifier(opts.tls.ca, this.revoked);
    this.revoked.onRevoked((nodeId) => this.sessions.get(nodeId)?.end('the node was removed: its certificates are revoked'));
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 1000;
    this.serverVersion = opts.serverVersion ?? clientVersion();
    this.graceMs = opts.heartbeatGraceMs ?? 5000;
    this.registry = new NodeRegistry(opts.store, this.log, opts.informers?.nodes, opts.nodeSubnets);
    this.network = opts.nodeSubnets
      ? new NodeNetworkFeed(opts.nodeSubnets, this.registry, {
          connected: () => [...this.sessions.keys()],
          send: (nodeId, net) => this.sessions.get(nodeId)?.sendNetwork(net),
        })
      : undefined;
    this.addresses =
      opts.serviceAddresses && opts.informers
        ? new ServiceAddresses({
            store: opts.store,
            logger: this.log,
            range: opts.serviceAddresses,
            services: opts.informers.services,
            tasks: opts.informers.tasks,
            ...(opts.informers.nodes ? { nodes: opts.informers.nodes } : {}),
            push: (list) => {
              for (const session of this.sessions.values()) session.sendEndpoints(list);
            },
          })
        : undefined;
    this.index = new TaskView({
      store: opts.store,
      logger: this.log,
      ...(opts.informers ? { informer: opts.informers.tasks } : {}),
      onDelta: (delta, task) => {
        const session = this.sessions.get(delta.nodeId);
        if (!session) return;
        if (delta.change === AssignmentChange.Upsert) session.upsert(task);
        else session.remove(task.id);
      },
    });
    this.usage = new UsageBook(
      { node: (id) => this.registry.get(id), task: (id) => this.index.get(id), tasksOf: (id) => this.index.tasksOf(id) },
      opts.serverName ?? 'local',
    );
    this.writer = new StatusWriter({
      store: opts.store,
      index: this.index,
      logger: this.log,
      onWritten: (previous, next) => {
        const nodeName = next.nodeId ? this.registry.get(next.nodeId)?.name : undefined;
        for (const ev of taskStatusEvents(previous, next, nodeName)) this.opts.events?.record(ev);
      },
    });
  }

  /** The bound port (useful when listening on port 0). */
  get port(): number {
    return this.boundPort;
  }

  openLogs(nodeId: string, query: LogsQuery, handlers: LogsHandlers): RemoteStream {
    const session = this.sessions.get(nodeId);
    if (!session) throw new NodeUnavailableError(nodeId);
    return openLogs(session, query, handlers);
  }

  isConnected(nodeId: string): boolean {
    return this.sessions.has(nodeId);
  }

  /** Nodes with a live session now. */
  connectedNodes(): string[] {
    return [...this.sessions.keys()];
  }

  /** Calls `listener` when a node's session comes or goes; returns the unsubscribe. */
  onSessionChange(listener: (nodeId: string, connected: boolean) => void): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  openExec(nodeId: string, req: ExecSpec, handlers: ExecHandlers): ExecStream {
    const session = this.sessions.get(nodeId);
    if (!session) throw new NodeUnavailableError(nodeId);
    return openExec(session, req, handlers);
  }

  async start(): Promise<void> {
    await Promise.all([this.registry.start(), this.index.start(), this.revoked.start()]);
    this.network?.start();
    // Not awaited: the shared informers it reads may be started after the dispatcher.
    this.addresses?.start().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'service addresses did not start'));
    // Agents need time to reconnect after a control-plane restart: every node not already down
    // counts as seen now, plus the longest wait an agent's reconnect backoff may have reached.
    const seenUntil = Date.now() + RESTART_RECONNECT_ALLOWANCE_MS;
    // (With published sessions the leader does this, from the start of its term.)
    for (const node of this.opts.sessions ? [] : this.registry.all()) {
      if (node.status.state !== NodeState.Down) this.lastSeen.set(node.id, seenUntil);
    }
    const server = new grpc.Server(KEEPALIVE_OPTIONS);
    const handlers: DispatcherHandlers = {
      Join: (call, callback) => void join(this.certificateHost, call, callback),
      Register: (call, callback) => void this.register(call, callback),
      Renew: (call, callback) => void renew(this.certificateHost, call, callback),
      Session: (call) => this.session(call),
      ...workloadHandlers({
        store: this.opts.store,
        log: this.log,
        peers: this.peers,
        tasksOf: (nodeId) => this.index.tasksOf(nodeId),
        node: (nodeId) => this.registry.get(nodeId),
        setVolumes: (nodeId, volumes) => this.registry.setVolumes(nodeId, volumes),
        ...(this.opts.secrets ? { secrets: this.opts.secrets } : {}),
        ...(this.opts.registries ? { registries: this.opts.registries } : {}),
        configs: new Configs(this.opts.store),
      }),
      JoinServer: (call, callback) => {
        const sj = this.opts.serverJoin;
        if (!sj) return callback({ code: grpc.status.UNIMPLEMENTED, details: 'this server does not let servers join' });
        void joinServer({ ...sj, store: this.opts.store, log: this.log }, call, callback);
      },
    };
    server.addService(loadBerthProto().Dispatcher.service, handlers);
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.opts.listen, dispatcherCredentials(this.opts.tls), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    this.offServers = this.opts.servers?.onAgentAddresses((addresses) => {
      this.log.info({ servers: addresses }, 'agent addresses changed: telling every agent');
      for (const s of this.sessions.values()) s.sendServers(addresses);
    }) ?? (() => true);
    const every = Math.max(50, Math.min(1000, Math.floor(this.graceMs / 4)));
    this.livenessTimer = setInterval(() => void this.checkLiveness(), every);
    this.log.info({ listen: this.opts.listen, port: this.boundPort }, 'dispatcher listening');
  }

  /** Idempotent. Ends every session (agents reconnect to the next control plane). */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.offServers();
    this.network?.stop();
    await this.addresses?.stop();
    for (const s of [...this.sessions.values()]) s.end('dispatcher stopping');
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    await this.writer.stop();
    await Promise.all([this.registry.stop(), this.index.stop(), this.revoked.stop()]);
    this.log.info('dispatcher stopped');
  }

  // ---------- Register ----------

  private async register(
    call: grpc.ServerUnaryCall<RegisterRequest__Output, RegisterResponse>,
    callback: grpc.sendUnaryData<RegisterResponse>,
  ): Promise<void> {
    const req = call.request;
    const peer = call.getPeer();
    try {
      const who = this.peers.identify(call);
      const denied = isDenied(who) ? who : await this.certifiedAs(who, req.nodeName);
      if (denied) {
        this.log.warn({ nodeName: req.nodeName, peer, reason: denied.details }, 'registration refused');
        callback(denied);
        return;
      }
      const admitted = await this.admit(req, peer);
      if (isDenied(admitted)) callback(admitted);
      else callback(null, admitted);
    } catch (err) {
      this.log.error({ err: errorMessage(err), nodeName: req.nodeName }, 'registration failed');
      callback({ code: grpc.status.UNAVAILABLE, details: `registration failed: ${errorMessage(err)}` });
    }
  }

  /** Undefined if the certificate's node is the node named `nodeName`, else why not. */
  private async certifiedAs(who: PeerNode, nodeName: string): Promise<CallDenied | undefined> {
    const node = this.registry.get(who.nodeId) ?? (await this.opts.store.get<Node>(keys.node(who.nodeId)));
    if (!node) return { code: grpc.status.PERMISSION_DENIED, details: `node ${who.nodeId} of this certificate is not in the cluster (removed?): join again with a join token` };
    if (node.name !== nodeName) return { code: grpc.status.PERMISSION_DENIED, details: `this certificate is node ${node.name}'s (${who.nodeId}), not node ${nodeName}'s` };
    return undefined;
  }

  private get certificateHost(): CertificateHost {
    return {
      tls: this.opts.tls,
      peers: this.peers,
      log: this.log,
      verifyJoinToken: (token) => this.opts.verifyJoinToken(token),
      admit: (req, peer) => this.admit(req, peer),
    };
  }

  /** Registers a node whose join token or certificate was checked: validates, writes, answers. */
  private async admit(req: RegisterRequest__Output, peer: string): Promise<RegisterResponse | CallDenied> {
    const tooOldOrNew = agentVersionProblem(this.serverVersion, req.agentVersion);
    if (tooOldOrNew) {
      this.log.warn({ nodeName: req.nodeName, peer, agentVersion: req.agentVersion, serverVersion: this.serverVersion }, tooOldOrNew);
      return { code: grpc.status.FAILED_PRECONDITION, details: tooOldOrNew };
    }
    const invalid = validateRegistration(req);
    if (invalid) {
      this.log.warn({ nodeName: req.nodeName, peer, reason: invalid }, 'registration refused');
      return { code: grpc.status.INVALID_ARGUMENT, details: invalid };
    }
    const known = this.registry.all().find((n) => n.name === req.nodeName);
    const node = await this.registry.register({
      name: req.nodeName,
      labels: { ...req.labels },
      capacity: { cpu: req.capacity!.cpuMillicores, memory: req.capacity!.memoryBytes },
      runtime: req.runtime,
      ...(req.agentVersion ? { agentVersion: req.agentVersion } : {}),
      address: peerHost(peer),
    });
    this.network?.registered(node);
    const token = randomBytes(24);
    this.sessionTokens.set(node.id, token);
    this.alive(node.id);
    this.recordNode(node, known ? EventReason.NodeReady : EventReason.NodeRegistered,
      known ? `reconnected from ${node.status.address ?? 'an unknown address'}` : `joined: ${node.runtime} runtime, ${formatCpu(node.capacity.cpu)} CPU, ${formatMemory(node.capacity.memory)} memory`);
    return {
      nodeId: node.id,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      heartbeatGraceMs: this.graceMs,
      sessionToken: token.toString('base64url'),
    };
  }

  // ---------- Session ----------

  private session(call: SessionCall): void {
    if (this.stopping) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'dispatcher stopping' });
      return;
    }
    const who = this.peers.identify(call);
    if (isDenied(who)) {
      this.log.warn({ peer: call.getPeer(), reason: who.details }, 'session refused');
      setImmediate(() => call.emit('error', { ...who, name: 'SessionError', message: who.details }));
      return;
    }
    new NodeSession(call, this.certifiedHost(who), this.log.child({ peer: call.getPeer() }));
  }

  /** The session host for a connection of `who`: its hello and every later message are checked against the certificate. */
  private certifiedHost(who: PeerNode): SessionHost {
    return {
      ...this.sessionHost,
      authorize: (nodeId) => {
        if (nodeId !== who.nodeId) {
          return { code: grpc.status.PERMISSION_DENIED, details: `this connection's certificate is node ${who.nodeId}'s, not node ${nodeId}'s` };
        }
        const now = this.peers.stillValid(who);
        return isDenied(now) ? now : undefined;
      },
    };
  }

  private readonly sessionHost: SessionHost = {
    authenticate: (nodeId, sessionToken) => {
      const expected = this.sessionTokens.get(nodeId);
      const given = Buffer.from(sessionToken, 'base64url');
      return expected && given.length === expected.length && timingSafeEqual(given, expected) ? nodeId : undefined;
    },
    attach: (session) => {
      const nodeId = session.nodeId!;
      const older = this.sessions.get(nodeId);
      this.sessions.set(nodeId, session);
      older?.end('superseded by a newer session of the same node');
      if (!older) for (const l of this.sessionListeners) l(nodeId, true);
      this.opts.sessions?.connected(nodeId);
      if (this.registry.get(nodeId)?.status.state !== NodeState.Ready) void this.markReady(nodeId);
    },
    detach: (session) => {
      const nodeId = session.nodeId!;
      if (this.sessions.get(nodeId) !== session) return;
      this.sessions.delete(nodeId);
      this.usage.forget(nodeId);
      for (const l of this.sessionListeners) l(nodeId, false);
    },
    alive: (nodeId) => this.alive(nodeId),
    usage: (nodeId, report) => this.usage.record(nodeId, report),
    tasksOf: (nodeId): Task[] => this.index.tasksOf(nodeId),
    submitStatuses: (nodeId, reports) => this.writer.submit(nodeId, reports),
    agentAddresses: () => this.opts.servers?.agentAddresses() ?? [],
    networkOf: (nodeId) => this.network?.networkOf(nodeId),
    endpoints: () => this.addresses?.endpoints(),
  };

  private recordNode(node: Node, reason: string, message: string, type: EventType = EventType.Normal): void {
    this.opts.events?.record({ type, reason, object: { kind: 'node', name: node.name, id: node.id }, message });
  }

  // ---------- liveness ----------

  /** Node id -> when this dispatcher last heard from the node (ms since the epoch), for the metrics. */
  lastHeartbeats(): ReadonlyMap<string, number> {
    return this.lastSeen;
  }

  private alive(nodeId: string): void {
    this.lastSeen.set(nodeId, Date.now());
    if (this.down.delete(nodeId)) {
      this.opts.sessions?.connected(nodeId);
      void this.markReady(nodeId);
    } else if (this.opts.sessions && this.registry.get(nodeId)?.status.state === NodeState.Down) {
      // Marked down by the leader (it had not heard of this session in time): heartbeats come here.
      this.opts.sessions.connected(nodeId);
      void this.markReady(nodeId);
    }
  }

  private async markReady(nodeId: string, fromStore = false): Promise<void> {
    try {
      if (await this.registry.setState(nodeId, NodeState.Ready, undefined, fromStore)) {
        this.log.info({ nodeId }, 'node ready again');
        const node = this.registry.get(nodeId);
        if (node) this.recordNode(node, EventReason.NodeReady, 'heartbeats resumed');
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err), nodeId }, 'could not mark node ready');
    }
  }

  private async checkLiveness(): Promise<void> {
    if (this.checking || this.stopping) return;
    this.checking = true;
    try {
      for (const nodeId of expiredNodes(this.lastSeen, this.down, Date.now(), this.graceMs)) {
        if (!this.registry.get(nodeId)) {
          this.lastSeen.delete(nodeId); // deleted from the store: nothing to mark
          continue;
        }
        this.down.add(nodeId);
        if (this.opts.sessions) {
          this.opts.sessions.silent(nodeId);
          continue;
        }
        try {
          const transitioned = await this.registry.setState(nodeId, NodeState.Down, NodeStatusMessage.HeartbeatMissed);
          if (!transitioned) continue;
          // A heartbeat during the write found the node still ready in the cache and wrote
          // nothing: it is alive, so it is ready again now.
          if (!this.down.has(nodeId)) void this.markReady(nodeId, true);
          this.log.warn({ nodeId, graceMs: this.graceMs }, 'node down: heartbeats stopped');
          const node = this.registry.get(nodeId);
          if (node) this.recordNode(node, EventReason.NodeDown, `no heartbeat for ${this.graceMs / 1000}s`, EventType.Warning);
          this.opts.onNodeDown?.(nodeId);
        } catch (err) {
          this.down.delete(nodeId); // try again on the next check
          this.log.warn({ err: errorMessage(err), nodeId }, 'could not mark node down');
        }
      }
    } finally {
      this.checking = false;
    }
  }
}

function validateRegistration(req: RegisterRequest__Output): string | undefined {
  if (!req.nodeName || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(req.nodeName)) return `invalid node name "${req.nodeName}"`;
  if (!(RUNTIMES as readonly string[]).includes(req.runtime)) return `invalid runtime "${req.runtime}" (expected ${RUNTIMES.join(' or ')})`;
  if (!req.capacity || req.capacity.cpuMillicores <= 0 || req.capacity.memoryBytes <= 0) return 'capacity must be positive';
  return undefined;
}

/** `ipv4:127.0.0.1:5555` or `ipv6:[::1]:5555` -> the host part. */
function peerHost(peer: string): string | undefined {
  const m = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return m?.[1];
}
