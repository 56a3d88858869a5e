// Which server holds each node's agent session, for every server to see: `sessions/<node-id>`
// = `{ server, since, silent }` on the holding server's lease. The holder's dispatcher writes it
// when a session starts (`connected`), and marks it `silent` once that node's heartbeats have
// stopped for the grace period (it keeps judging its own sessions' heartbeats, as a lone server
// always did). The leader's liveness judge (node-liveness.ts) reads these keys: heartbeats arrive
// at whichever server the agent joined, and only the leader marks nodes down.
//
// A key written by another server (the agent moved) is never overwritten by a stale `silent`:
// that write is conditional on the version this server's informer holds for its own record.
// After a lost lease the keys vanished with it; they are created again under the new lease,
// except where another server now holds the node. Writes are batched (the work queue's).
import type { Logger } from 'pino';
import { ConflictError } from '../../common/errors.js';
import type { Controller } from '../controller/controller.js';
import { WorkQueue } from '../controller/work-queue.js';
import { Informer } from '../store/informer.js';
import { serverKeys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import type { ServerLease } from './server-lease.js';

export interface SessionRecord {
  /** The server holding the node's session. */
  server: string;
  /** When the session began (ISO time). */
  since: string;
  /** The holder saw no heartbeat for the grace period. */
  silent: boolean;
  version?: number;
}

/** What the dispatcher tells about the sessions it holds. */
export interface SessionLiveness {
  /** A session of this node began here (or its heartbeats resumed). */
  connected(nodeId: string): void;
  /** This node's heartbeats stopped for the grace period. */
  silent(nodeId: string): void;
}

export class SessionPublisher implements SessionLiveness, Controller {
  readonly informer: Informer<SessionRecord>;
  /** What this server says of the nodes it has held, by node id. */
  private readonly held = new Map<string, { since: string; silent: boolean; recreate: boolean }>();
  private readonly queue: WorkQueue<string>;
  private readonly log: Logger;
  private unsubscribe: () => void = () => true;

  constructor(
    private readonly store: Store,
    private readonly lease: ServerLease,
    private readonly server: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'sessions' });
    this.informer = new Informer<SessionRecord>({ store, prefix: serverKeys.sessions, logger: this.log });
    this.queue = new WorkQueue<string>({ logger: this.log, name: 'sessions', quietMs: 5, maxDelayMs: 5, process: (ids) => this.flush(ids) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    this.unsubscribe = this.lease.subscribe({
      lost: () => undefined,
      renewed: () => {
        for (const [nodeId, h] of this.held) {
          h.recreate = true;
          this.queue.add(nodeId);
        }
      },
    });
    this.queue.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.queue.stop();
    await this.informer.stop();
  }

  connected(nodeId: string): void {
    const h = this.held.get(nodeId);
    // Already said, and etcd has it (not another server's record since: the agent came back).
    const stored = this.informer.cache.get(serverKeys.session(nodeId));
    if (h && !h.silent && !h.recreate && stored?.server === this.server && !stored.silent) return;
    this.held.set(nodeId, { since: h && !h.silent ? h.since : new Date().toISOString(), silent: false, recreate: false });
    this.queue.add(nodeId);
  }

  silent(nodeId: string): void {
    const h = this.held.get(nodeId);
    if (!h || h.silent) return;
    h.silent = true;
    this.queue.add(nodeId);
  }

  private async flush(ids: string[]): Promise<void> {
    const ops: WriteOp[] = [];
    for (const nodeId of ids) {
      const h = this.held.get(nodeId);
      if (!h) continue;
      const key = serverKeys.session(nodeId);
      const value: SessionRecord = { server: this.server, since: h.since, silent: h.silent };
      const current = this.informer.cache.get(key);
      if (h.recreate) {
        ops.push({ type: 'create', key, value, lease: this.lease.id });
      } else if (h.silent) {
        // Only our own record turns silent; another server's is that server's to tell.
        if (current?.server !== this.server || current.version === undefined) {
          this.held.delete(nodeId);
          continue;
        }
        ops.push({ type: 'put', key, value, version: current.version, lease: this.lease.id });
      } else {
        ops.push({ type: 'put', key, value, lease: this.lease.id });
      }
    }
    if (!ops.length) return;
    let conflicts: string[];
    try {
      ({ conflicts } = await this.store.batch(ops));
    } catch (err) {
      if (err instanceof ConflictError) return;
      this.queue.retryAll(ops.map((o) => o.key.slice(serverKeys.sessions.length)), err);
      return;
    }
    for (const op of ops) {
      const nodeId = op.key.slice(serverKeys.sessions.length);
      const h = this.held.get(nodeId);
      if (h) h.recreate = false;
      // Refused: another server holds the node now.
      if (conflicts.includes(op.key)) this.held.delete(nodeId);
    }
    if (conflicts.length) this.log.info({ nodes: conflicts.length }, 'sessions held by other servers now');
  }
}
