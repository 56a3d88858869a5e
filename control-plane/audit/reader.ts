// Reads of the audit log for GET /v1/audit: from an informer on `audit/` (started by the first
// read), so `berth get audit -w`, which asks every second for what came after its last answer,
// costs a filter of what is in memory (at most ~10,000 entries) instead of a read of the whole
// log from etcd per follower per second.
import type { Logger } from 'pino';
import type { AuditEntry, StoredAudit } from '../../common/audit.js';
import { Informer } from '../store/informer.js';
import type { Store } from '../store/store.js';
import { AUDIT_PREFIX, selectAudit, type AuditQuery } from './recorder.js';

export class AuditReader {
  private informer: Informer<StoredAudit> | undefined;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  /** Entries oldest first; `version`: pass it as the next `fromVersion` to get only what is stored after. */
  async list(opts: AuditQuery = {}): Promise<{ items: AuditEntry[]; version: number }> {
    if (!this.informer) {
      this.informer = new Informer<StoredAudit>({ store: this.store, prefix: AUDIT_PREFIX, logger: this.logger });
      this.informer.start();
    }
    await this.informer.synced;
    // The revision before the selection: a batch stored meanwhile is in the next answer too, not lost.
    const version = this.informer.lastRevision;
    return { items: selectAudit(this.informer.cache.values(), opts), version };
  }

  async stop(): Promise<void> {
    await this.informer?.stop();
  }
}
