// The leader election among the servers sharing one etcd: whoever creates the key `leader`
// (attached to its server lease) leads until the key goes: the lease expires (server killed,
// paused or cut off past the TTL), the leader resigns (deletes it on SIGTERM), or another server
// of the same name takes it over on start-up (a restarted server need not wait out its own
// former lease).
//
// Owns: campaigning (a transaction: create `leader` if absent), watching the key, resigning, and
// the fence a term's writes carry: the key's mod_revision when this server won. A write whose
// transaction finds the key changed fails, so a deposed leader that has not noticed yet writes
// nothing; the failure reports the loss here (`fenceLost`).
// Must not: start or stop controllers (leadership.ts does, from what this reports).
import type { Logger } from 'pino';
import { ConflictError, errorMessage } from '../../common/errors.js';
import { serverKeys } from '../store/keys.js';
import type { Fence, Store } from '../store/store.js';
import type { ServerLease } from './server-lease.js';

/** The value of the leader key. */
export interface LeaderRecord {
  name: string;
  /** When this term began (ISO time). */
  since: string;
  version?: number;
}

export interface ElectionHandlers {
  /** This server leads from now on; its controllers write through `fence`. */
  elected(fence: Fence): void;
  /** This server no longer leads (or must assume so). */
  deposed(why: string): void;
}

export class Election {
  private fence: Fence | undefined;
  private stopWatch: (() => Promise<void>) | undefined;
  private poll: NodeJS.Timeout | undefined;
  private campaigning: Promise<void> | undefined;
  private stopped = false;
  private readonly log: Logger;
  private unsubscribe: () => void = () => true;

  constructor(
    private readonly store: Store,
    private readonly lease: ServerLease,
    private readonly name: string,
    private readonly handlers: ElectionHandlers,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'election' });
  }

  get isLeader(): boolean {
    return this.fence !== undefined;
  }

  /** Campaigns once (a lone server leads when this resolves), then watches the key. */
  async start(): Promise<void> {
    this.unsubscribe = this.lease.subscribe({
      lost: () => this.depose('server lease lost'),
      renewed: () => this.campaign(),
    });
    await this.watchKey();
    await this.campaignNow(true);
    // A safety net beside the watch: a follower tries again every TTL.
    this.poll = setInterval(() => {
      if (!this.fence) this.campaign();
    }, this.lease.ttlSeconds * 1000);
  }

  /** Stops campaigning; a leader resigns (deletes the key), so another server leads at once. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    if (this.poll) clearInterval(this.poll);
    await this.campaigning;
    await this.stopWatch?.();
    const fence = this.fence;
    if (!fence) return;
    this.fence = undefined;
    try {
      await this.store.delete(serverKeys.leader, fence.revision);
      this.log.info({ server: this.name }, 'resigned the leadership');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not resign (the lease expires by itself)');
    }
  }

  /** The current leader's record, as etcd has it. */
  leader(): Promise<LeaderRecord | undefined> {
    return this.store.get<LeaderRecord>(serverKeys.leader);
  }

  private campaign(): void {
    if (this.stopped || this.fence || this.campaigning) return;
    this.campaigning = this.campaignNow(false).finally(() => (this.campaigning = undefined));
  }

  private async campaignNow(startUp: boolean): Promise<void> {
    if (this.stopped || this.fence || !this.lease.held) return;
    const record: LeaderRecord = { name: this.name, since: new Date().toISOString() };
    const leaseId = this.lease.id;
    try {
      let revision: number;
      try {
        revision = await this.store.txn([{ type: 'create', key: serverKeys.leader, value: record, lease: leaseId }]);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const current = await this.leader();
        // A key of our name is this server's own, from a former run (start-up) or a former term
        // (a lease lost during an etcd outage, the key still on it): names are unique per server.
        if (current?.name !== this.name || current.version === undefined) return;
        revision = await this.store.txn([{ type: 'put', key: serverKeys.leader, value: record, version: current.version, lease: leaseId }]);
        this.log.info({ server: this.name }, startUp ? 'took the leadership over from a former run of this server' : 'took the leadership back from a former term of this server');
      }
      if (this.stopped || leaseId !== this.lease.id) return;
      this.fence = { key: serverKeys.leader, revision, onLost: () => this.depose('a fenced write found another leader') };
      this.log.info({ server: this.name, fence: revision }, 'elected leader');
      this.handlers.elected(this.fence);
    } catch (err) {
      if (!(err instanceof ConflictError)) this.log.warn({ err: errorMessage(err) }, 'campaign failed; trying again');
    }
  }

  private depose(why: string): void {
    if (!this.fence) return;
    this.fence = undefined;
    this.log.warn({ server: this.name, why }, 'lost the leadership');
    this.handlers.deposed(why);
    this.campaign();
  }

  /** Watches the leader key: its deletion starts a campaign; any change to it deposes this server. */
  private async watchKey(): Promise<void> {
    const from = await this.store.revision();
    this.stopWatch = await this.store.watch<LeaderRecord>(
      serverKeys.leader,
      from + 1,
      (ev, revision) => {
        if (ev.key !== serverKeys.leader) return;
        // A change from before this term (a watch catching up after an outage) is not news.
        if (this.fence && revision <= this.fence.revision) return;
        if (this.fence && (ev.type === 'delete' || revision !== this.fence.revision)) this.depose(ev.type === 'delete' ? 'the leader key was deleted' : 'another server took the leader key');
        if (ev.type === 'delete') this.campaign();
      },
      () => {
        // Cancelled (compaction): watch again from now; the poll covers what was missed.
        if (!this.stopped) void this.watchKey().catch(() => undefined);
      },
    );
  }
}
