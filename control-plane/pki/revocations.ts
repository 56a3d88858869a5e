// Revoked nodes: `revoked/<node-id>` in etcd, written with the node's removal (`berth node rm`),
// so the node's certificates (all of them: every one names the node id as its CN) stop working
// at once, on every control plane. The dispatcher reads the set through an informer and checks
// it on every connection and call. An entry outlives every certificate the node could hold; it
// may be deleted after `expiresAt`.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { Node } from '../../common/types.js';
import { Informer } from '../store/informer.js';
import type { Store, WriteOp } from '../store/store.js';

export const REVOKED_PREFIX = 'revoked/';

export interface Revocation {
  nodeId: string;
  nodeName: string;
  revokedAt: string;
  /** After this, no certificate of the node is still valid: the entry is no longer needed. */
  expiresAt: string;
}

/** Revocations outlive the longest node certificate lifetime the flag allows, with margin. */
export const REVOCATION_KEEP_MS = 31 * 24 * 3600_000;

export function revocationKey(nodeId: string): string {
  return `${REVOKED_PREFIX}${nodeId}`;
}

/** The write that revokes `node`, to go in the transaction that removes it. */
export function revokeOp(node: Pick<Node, 'id' | 'name'>, now = new Date()): WriteOp {
  const value: Revocation = {
    nodeId: node.id,
    nodeName: node.name,
    revokedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + REVOCATION_KEEP_MS).toISOString(),
  };
  return { type: 'put', key: revocationKey(node.id), value };
}

/** How often expired entries are looked for. */
const SWEEP_EVERY_MS = 3600_000;

export class RevokedNodes {
  private readonly informer: Informer<Revocation>;
  private readonly listeners = new Set<(nodeId: string) => void>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {
    this.informer = new Informer<Revocation>({
      store,
      prefix: REVOKED_PREFIX,
      logger,
      onEvent: (ev) => {
        if (ev.type !== 'put') return;
        for (const l of this.listeners) l(ev.value.nodeId);
      },
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    return this.informer.stop();
  }

  /** Deletes the entries no certificate can need any more (each only if unchanged). */
  async sweep(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (const [key, r] of this.informer.cache) {
      if (Date.parse(r.expiresAt) > now) continue;
      try {
        await this.store.delete(key, (r as Revocation & { version?: number }).version);
        deleted++;
      } catch (err) {
        this.logger.debug({ err: errorMessage(err), nodeId: r.nodeId }, 'expired revocation not deleted');
      }
    }
    return deleted;
  }

  has(nodeId: string): boolean {
    return this.informer.cache.has(revocationKey(nodeId));
  }

  /** Calls `listener` with each node id revoked from now on. */
  onRevoked(listener: (nodeId: string) => void): void {
    this.listeners.add(listener);
  }
}
