// The leader's judgement of which nodes are down. Agents may join any server; each server's
// dispatcher publishes the sessions it holds (sessions.ts). A node is alive while some server
// holds its session and hears its heartbeats; it is down when its holder reports it silent (no
// heartbeat for the grace period), or when no server has held it for the grace period (it never
// came back; when its server stopped or died, taking the session key with its lease, the node
// first gets the reconnect allowance).
//
// Counted from this term: when a server becomes leader, every node not already down counts as
// seen now plus the reconnect allowance (agents of a server that died need time to join another,
// as after a restart of a lone server), so a failover never marks a node down by itself.
// The down writes go through the term's fenced writer: a deposed leader marks nothing.
import type { Logger } from 'pino';
import { EventReason, EventType } from '../../common/events.js';
import { errorMessage } from '../../common/errors.js';
import { NodeState, type Node } from '../../common/types.js';
import type { Controller } from '../controller/controller.js';
import { NodeRegistry } from '../dispatcher/node-registry.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Informer } from '../store/informer.js';
import { serverKeys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { SessionRecord } from './sessions.js';

export interface NodeLivenessOptions {
  /** The term's fenced writer. */
  writer: Store;
  nodes: Informer<Node>;
  sessions: Informer<SessionRecord>;
  graceMs: number;
  /** Added to the grace once, at the start of the term (the agents' longest reconnect backoff). */
  allowanceMs: number;
  logger: Logger;
  events?: EventRecorder;
}

/** The message written on a node marked down. */
export const NODE_DOWN_MESSAGE = 'no heartbeat within the grace period';

export class NodeLiveness implements Controller {
  /** Per node id: when the leader last knew it alive (may be in the future: the allowance). */
  private readonly lastAlive = new Map<string, number>();
  private readonly registry: NodeRegistry;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private offNodes: () => void = () => true;
  private offSessions: () => void = () => true;
  private checking = false;
  private stopped = false;

  constructor(private readonly opts: NodeLivenessOptions) {
    this.log = opts.logger.child({ component: 'node-liveness' });
    this.registry = new NodeRegistry(opts.writer, this.log, opts.nodes);
  }

  async start(): Promise<void> {
    await this.registry.start();
    const until = Date.now() + this.opts.allowanceMs;
    for (const node of this.registry.all()) if (node.status.state !== NodeState.Down) this.lastAlive.set(node.id, until);
    this.offNodes = this.opts.nodes.subscribe((ev) => {
      // A node that has just (re)joined counts as seen now.
      if (ev.type === 'put' && ev.value.status.state === NodeState.Ready && ev.previous?.status.state !== NodeState.Ready) this.seen(ev.value.id);
    });
    this.offSessions = this.opts.sessions.subscribe((ev) => {
      const nodeId = ev.key.slice(serverKeys.sessions.length);
      // A session key is deleted only with its server's lease (the server stopped or died): its
      // agents get the reconnect allowance, as after a restart of a lone server.
      this.seen(nodeId, ev.type === 'delete' ? this.opts.allowanceMs : 0);
      if (ev.type === 'put' && ev.value.silent) void this.check();
    });
    const every = Math.max(50, Math.min(1000, Math.floor(this.opts.graceMs / 4)));
    this.timer = setInterval(() => void this.check(), every);
    this.log.info({ nodes: this.lastAlive.size, graceMs: this.opts.graceMs }, 'judging node liveness');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.offNodes();
    this.offSessions();
    await this.registry.stop();
  }

  private seen(nodeId: string, allowanceMs = 0): void {
    const until = Date.now() + allowanceMs;
    if ((this.lastAlive.get(nodeId) ?? 0) < until) this.lastAlive.set(nodeId, until);
  }

  private async check(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      const now = Date.now();
      for (const node of this.registry.all()) {
        if (node.status.state === NodeState.Down) continue;
        const session = this.opts.sessions.cache.get(serverKeys.session(node.id));
        if (session && !session.silent) {
          this.seen(node.id);
          continue;
        }
        const last = this.lastAlive.get(node.id);
        if (last === undefined) {
          this.lastAlive.set(node.id, now);
          continue;
        }
        if (!session?.silent && now - last <= this.opts.graceMs) continue;
        await this.markDown(node, session);
        if (this.stopped) return;
      }
    } finally {
      this.checking = false;
    }
  }

  private async markDown(node: Node, session: SessionRecord | undefined): Promise<void> {
    try {
      if (!(await this.registry.setState(node.id, NodeState.Down, NODE_DOWN_MESSAGE))) return;
      this.log.warn({ nodeId: node.id, graceMs: this.opts.graceMs, server: session?.server }, 'node down: heartbeats stopped');
      this.opts.events?.record({
        type: EventType.Warning,
        reason: EventReason.NodeDown,
        object: { kind: 'node', name: node.name, id: node.id },
        message: `no heartbeat for ${this.opts.graceMs / 1000}s`,
      });
    } catch (err) {
      this.log.warn({ err: errorMessage(err), nodeId: node.id }, 'could not mark node down');
    }
  }
}
