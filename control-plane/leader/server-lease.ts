// This server's lease in etcd: its registration (`servers/<name>`), the node sessions it holds
// (`sessions/<node>`) and, while it leads, the leader key are all attached to it, so they vanish
// together TTL seconds after the server stops renewing it (killed, paused, cut off from etcd).
//
// Owns: granting, renewing every TTL/4, and replacing a lease etcd no longer has (or that went
// unrenewed for a whole TTL: this server must then assume etcd has dropped it). Listeners hear
// `lost` (stop anything the lease guaranteed) and then the new lease id (write the keys again).
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { Store } from '../store/store.js';

export interface ServerLeaseListener {
  /** The lease is gone (or must be assumed gone): whatever it held is no longer held. */
  lost(): void;
  /** A new lease replaces the lost one: write what it should hold again. */
  renewed(leaseId: string): void;
}

export class ServerLease {
  private leaseId = '';
  private lastRenewed = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  /** True from a loss until a new lease is granted. */
  private lapsed = false;
  private readonly listeners = new Set<ServerLeaseListener>();
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    readonly ttlSeconds: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'server-lease' });
  }

  /** Grants the first lease; renewals start. */
  async start(): Promise<void> {
    this.leaseId = await this.store.grantLease(this.ttlSeconds);
    this.lastRenewed = Date.now();
    this.timer = setInterval(() => void this.tick(), Math.max(100, (this.ttlSeconds * 1000) / 4));
  }

  get id(): string {
    return this.leaseId;
  }

  /** Whether the lease is held now (renewed within its TTL). */
  get held(): boolean {
    return !this.lapsed && Date.now() - this.lastRenewed < this.ttlSeconds * 1000;
  }

  subscribe(listener: ServerLeaseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops renewing and revokes the lease: every key on it is deleted at once. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.leaseId) await this.store.revokeLease(this.leaseId).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not revoke the server lease'));
  }

  private async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      if (this.lapsed) return await this.replace();
      const alive = await withTimeout(this.store.renewLease(this.leaseId), (this.ttlSeconds * 1000) / 2);
      if (alive) {
        this.lastRenewed = Date.now();
        return;
      }
      this.lose('etcd no longer has the lease');
      await this.replace();
    } catch (err) {
      if (Date.now() - this.lastRenewed >= this.ttlSeconds * 1000) this.lose(`not renewed for ${this.ttlSeconds}s: ${errorMessage(err)}`);
    } finally {
      this.running = false;
    }
  }

  private lose(why: string): void {
    if (this.lapsed) return;
    this.lapsed = true;
    this.log.warn({ leaseId: this.leaseId, why }, 'server lease lost');
    for (const l of [...this.listeners]) l.lost();
  }

  /** A fresh lease after a loss (the old one is revoked if etcd still has it). */
  private async replace(): Promise<void> {
    const old = this.leaseId;
    this.leaseId = await this.store.grantLease(this.ttlSeconds);
    this.lastRenewed = Date.now();
    this.lapsed = false;
    void this.store.revokeLease(old).catch(() => undefined);
    this.log.info({ leaseId: this.leaseId }, 'server lease granted again');
    for (const l of [...this.listeners]) l.renewed(this.leaseId);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
