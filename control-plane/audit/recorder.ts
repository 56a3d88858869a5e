// The audit log: who changed what through the API, kept for a bounded time and size (by default
// 7 days or the last 10,000 entries, whichever is reached first).
//
// Stored as the event recorder stores events: the entries of one flush (every 100 ms) under one
// etcd key `audit/<id of the first>`, attached to a lease, so etcd forgets them by itself when
// they age out. At a few hundred calls a second that is ~10 writes a second instead of one write
// (and one lease attachment) per call; etcd's history and compaction grow with writes, not with
// bytes. The size bound: after every `trimEvery` (1,000) entries written here, the oldest keys beyond
// `maxEntries` are deleted (one list of at most ~maxEntries entries, a few MB).
//
// Owns: recording (batched, fire-and-forget: never fails the call it describes; while the store
// refuses, entries wait, up to MAX_PENDING, and the flush is retried with a growing delay, with
// one warning when recording starts failing and one line when it works again), trimming and
// reading. Must not: hold tokens (callers pass token names).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEntry, StoredAudit } from '../../common/audit.js';
import { errorMessage } from '../../common/errors.js';
import type { Store, WriteOp } from '../store/store.js';

export const AUDIT_PREFIX = 'audit/';
/** Entries per stored value: ~400 bytes each, well under etcd's request size limit. */
export const AUDIT_ENTRIES_PER_KEY = 500;
export const DEFAULT_AUDIT_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_AUDIT_MAX_ENTRIES = 10_000;
/** Entries written between two size trims. */
export const DEFAULT_AUDIT_TRIM_EVERY = 1000;

/** Entries kept while the store refuses them; beyond, the oldest are dropped (and counted). */
export const MAX_PENDING = 5000;
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5000;

export type AuditInput = Omit<AuditEntry, 'id' | 'version'>;

export interface AuditRecorderOptions {
  store: Store;
  logger: Logger;
  ttlSeconds?: number;
  maxEntries?: number;
  /** Entries written here between two size trims. */
  trimEvery?: number;
  flushMs?: number;
}

export class AuditRecorder {
  private queue: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private lease: { id: string; renewAt: number } | undefined;
  private seq = 0;
  /** Entries written since the last trim; the first flush trims (entries of earlier runs count). */
  private sinceTrim = Number.POSITIVE_INFINITY;
  private readonly suffix = randomBytes(3).toString('hex');
  private readonly log: Logger;
  private stopped = false;
  /** While flushes fail: since when, the next retry delay, and the entries dropped meanwhile. */
  private failing: { since: number; delayMs: number; dropped: number } | undefined;

  constructor(private readonly opts: AuditRecorderOptions) {
    this.log = opts.logger.child({ component: 'audit' });
  }

  record(input: AuditInput): void {
    if (this.stopped) return;
    const id = `${String(Date.parse(input.time) || Date.now()).padStart(14, '0')}-${String(this.seq++ % 1e6).padStart(6, '0')}-${this.suffix}`;
    this.queue.push({ id, ...input });
    this.schedule(this.opts.flushMs ?? 100);
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flush().finally(() => (this.flushing = undefined));
    }, ms);
  }

  /** Writes what is queued (the entries recorded so far), e.g. before a test reads them. */
  async flushNow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  /** Writes what is queued, then stops accepting entries. */
  async stop(): Promise<void> {
    await this.flushNow();
    this.stopped = true;
    // A flush the store refused leaves a retry armed: what still waits is not recorded.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length) this.log.warn({ lost: this.queue.length }, 'audit entries not recorded: the store refused them until the server stopped');
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    try {
      const lease = await this.currentLease();
      const ops: WriteOp[] = [];
      for (let i = 0; i < batch.length; i += AUDIT_ENTRIES_PER_KEY) {
        const items = batch.slice(i, i + AUDIT_ENTRIES_PER_KEY);
        ops.push({ type: 'put', key: `${AUDIT_PREFIX}${items[0]!.id}`, value: { items } satisfies StoredAudit, lease });
      }
      await this.opts.store.batch(ops);
      this.sinceTrim += batch.length;
    } catch (err) {
      // Kept for the next try (newest last); the oldest go beyond MAX_PENDING.
      this.queue = [...batch, ...this.queue];
      const over = this.queue.length - MAX_PENDING;
      if (over > 0) this.queue.splice(0, over);
      if (!this.failing) {
        this.failing = { since: Date.now(), delayMs: RETRY_FIRST_MS, dropped: 0 };
        this.log.warn({ err: errorMessage(err), waiting: this.queue.length }, 'audit entries not recorded yet; retrying with backoff');
      } else {
        this.failing.delayMs = Math.min(RETRY_MAX_MS, this.failing.delayMs * 2);
      }
      if (over > 0) this.failing.dropped += over;
      if (!this.stopped) this.schedule(this.failing.delayMs);
      return;
    }
    if (this.failing) {
      this.log.info({ failedForMs: Date.now() - this.failing.since, dropped: this.failing.dropped }, 'audit entries recorded again');
      this.failing = undefined;
    }
    if (this.sinceTrim >= (this.opts.trimEvery ?? DEFAULT_AUDIT_TRIM_EVERY)) {
      this.sinceTrim = 0;
      await this.trim().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'audit trim failed'));
    }
  }

  /** Deletes the oldest keys while more than maxEntries entries would remain without them. */
  private async trim(): Promise<void> {
    const max = this.opts.maxEntries ?? DEFAULT_AUDIT_MAX_ENTRIES;
    const { items, keys } = await this.opts.store.list<StoredAudit>(AUDIT_PREFIX);
    let total = items.reduce((n, s) => n + (s.items?.length ?? 0), 0);
    const ops: WriteOp[] = [];
    for (let i = 0; i < items.length && total > max; i++) {
      total -= items[i]!.items?.length ?? 0;
      ops.push({ type: 'delete', key: keys[i]! });
    }
    if (!ops.length) return;
    await this.opts.store.batch(ops);
    this.log.debug({ deletedKeys: ops.length, kept: total }, 'audit trimmed');
  }

  /** One lease serves many entries: renewed every tenth of the TTL, so none outlives TTL by much. */
  private async currentLease(): Promise<string> {
    const ttl = this.opts.ttlSeconds ?? DEFAULT_AUDIT_TTL_SECONDS;
    if (!this.lease || Date.now() >= this.lease.renewAt) {
      const id = await this.opts.store.grantLease(ttl);
      this.lease = { id, renewAt: Date.now() + (ttl * 1000) / 10 };
    }
    return this.lease.id;
  }
}

/**
 * Audit entries, oldest first: those stored after `fromVersion` when given, at most the last
 * `limit`. `version` is the store revision of the read: pass it as the next `fromVersion`.
 */
export async function listAudit(store: Store, opts: AuditQuery = {}): Promise<{ items: AuditEntry[]; version: number }> {
  const { items: stored, revision } = await store.list<StoredAudit>(AUDIT_PREFIX);
  return { items: selectAudit(stored, opts), version: revision };
}

export interface AuditQuery {
  fromVersion?: number;
  limit?: number;
}

/** The entries of stored batches, oldest first, as `listAudit` selects them. */
export function selectAudit(stored: Iterable<StoredAudit>, opts: AuditQuery): AuditEntry[] {
  let items = [...stored]
    .filter((s) => opts.fromVersion === undefined || (s.version ?? 0) > opts.fromVersion)
    .flatMap((s) => (s.items ?? []).map((e) => ({ ...e, ...(s.version !== undefined ? { version: s.version } : {}) })));
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (opts.limit !== undefined && items.length > opts.limit) items = items.slice(items.length - opts.limit);
  return items;
}
