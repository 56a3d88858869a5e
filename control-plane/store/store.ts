// The one module that talks to etcd (and the only importer of `etcd3`).
//
// Owns: key layout under a prefix, JSON encoding, optimistic concurrency (every conditional
// write compares the key's mod_revision, which is the object's `version`), batched
// transactions (etcd allows 128 operations per txn), list-then-watch with re-list on
// cancellation or compaction, and leases.
// Must not: know what a service or a task means. Controllers own meaning; this owns storage.
import { Etcd3, type IKeyValue, type IRequestOp, type ICompare, type Watcher, type IOptions } from 'etcd3';
import type { Logger } from 'pino';
import { ConflictError, FenceLostError } from '../../common/errors.js';
import { etcdRequestSeconds } from '../metrics/instruments.js';
import { channelOptions, faultHandling } from './fault-handling.js';
import { storeError, StoreNotAnsweringError, StoreTimeoutError } from './unavailable.js';
import { WatchStreamLog } from './watch-stream-log.js';

/**
 * Writes in one transaction: etcd's default limit (128, for compares too) less one compare kept
 * for a leader's fence (`fenced()`).
 */
export const MAX_TXN_OPS = 127;
/** Transactions of one `batch` in flight at once. */
export const BATCH_TXNS_IN_FLIGHT = 4;

export interface StoreOptions {
  endpoints: string[];
  /** Key prefix, default `/berth/`. */
  prefix?: string;
  logger: Logger;
  /** Per-call deadline in ms (default 5000). */
  timeoutMs?: number;
}

/** One write in a transaction. `version` makes it conditional on the key's mod_revision. */
export type WriteOp =
  | { type: 'create'; key: string; value: unknown; lease?: string }
  | { type: 'put'; key: string; value: unknown; version?: number; lease?: string }
  | { type: 'delete'; key: string; version?: number };

/**
 * A leader's fence: the leader key and the mod_revision it had when this server won. A fenced
 * writer's transactions also compare it, so a deposed leader writes nothing (see fence.ts).
 */
export interface Fence {
  key: string;
  revision: number;
  /** Called when a transaction failed on the fence: leadership is lost. */
  onLost?: () => void;
}

export interface ListResult<T> {
  items: T[];
  /** Relative key of each item, in the same order. */
  keys: string[];
  revision: number;
}

export type WatchEvent<T> =
  | { type: 'put'; key: string; value: T }
  | { type: 'delete'; key: string; previous?: T };

export class Store {
  readonly prefix: string;
  private readonly client: Etcd3;
  /** Per top-level prefix, the revision of this process's latest write there. */
  private readonly written = new Map<string, number>();
  private readonly log: Logger;
  private readonly watchStream: WatchStreamLog;
  /** Since when etcd has not answered (a call failed unanswered, or the watch stream was lost). */
  private notAnsweringSince: number | undefined;
  private closed = false;
  /** Set only on a fenced view (`fenced()`): every transaction also compares it. */
  private fence: Fence | undefined;

  constructor(opts: StoreOptions) {
    this.prefix = normalisePrefix(opts.prefix ?? '/berth/');
    this.log = opts.logger.child({ component: 'store' });
    this.watchStream = new WatchStreamLog(this.log);
    const etcdOpts: IOptions = {
      hosts: opts.endpoints,
      dialTimeout: 3000,
      // Lists of tens of thousands of tasks exceed gRPC's default 4 MiB per message.
      // No channelz records (grpc-js keeps them by default; nothing serves them).
      grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.enable_channelz': 0, ...channelOptions },
      faultHandling: faultHandling(opts.endpoints.length),
      defaultCallOptions: (ctx) => ({ deadline: Date.now() + (ctx.isStream ? 365 * 24 * 3600_000 : (opts.timeoutMs ?? 5000)) }),
    };
    this.client = new Etcd3(etcdOpts);
  }

  /**
   * Whether etcd answered this store's latest call (or its watch stream is open): while it does
   * not, readers serve their caches as they are instead of waiting for them to catch up.
   */
  get answering(): boolean {
    return this.notAnsweringSince === undefined;
  }

  /** Full etcd key of a key relative to the prefix. */
  fullKey(key: string): string {
    return this.prefix + key;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const res = await this.call('range', () => this.client.kv.range({ key: Buffer.from(this.fullKey(key)) }));
    const kv = res.kvs[0];
    return kv ? decode<T>(kv) : undefined;
  }

  /** All objects under a relative key prefix, with the store revision they were read at. */
  async list<T>(keyPrefix: string): Promise<ListResult<T>> {
    const start = this.fullKey(keyPrefix);
    const res = await this.call('range', () =>
      this.client.kv.range({ key: Buffer.from(start), range_end: rangeEnd(start) }),
    );
    return {
      items: res.kvs.map((kv) => decode<T>(kv)),
      keys: res.kvs.map((kv) => this.relKey(kv.key)),
      revision: Number(res.header.revision),
    };
  }

  async count(keyPrefix = ''): Promise<number> {
    const start = this.fullKey(keyPrefix);
    const res = await this.call('range', () =>
      this.client.kv.range({ key: Buffer.from(start), range_end: rangeEnd(start), count_only: true }),
    );
    return Number(res.count);
  }

  /**
   * Applies all ops atomically, or none. Conditions: `create` requires the key to be absent,
   * `put`/`delete` with a version require that mod_revision. Throws ConflictError naming the
   * first key whose condition failed. Returns the revision of the write.
   */
  async txn(ops: WriteOp[]): Promise<number> {
    if (ops.length === 0) return 0;
    if (ops.length > MAX_TXN_OPS) throw new Error(`txn of ${ops.length} ops exceeds ${MAX_TXN_OPS}`);
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const fence = this.fence;
    if (fence) compare.push({ key: Buffer.from(this.fullKey(fence.key)), target: 'Mod', result: 'Equal', mod_revision: fence.revision });
    for (const op of ops) {
      const key = Buffer.from(this.fullKey(op.key));
      if (op.type === 'create') {
        compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
      } else if (op.version !== undefined) {
        compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.version });
      }
      if (op.type === 'delete') {
        success.push({ request_delete_range: { key } });
      } else {
        success.push({ request_put: { key, value: encode(op.value), ...(op.lease ? { lease: op.lease } : {}) } });
      }
    }
    const res = await this.call('txn', () => this.client.kv.txn({ compare, success, failure: [] }));
    if (!res.succeeded) {
      if (fence) await this.checkFence(fence);
      const stale = await this.firstStale(ops);
      throw new ConflictError(stale ?? ops[0]!.key);
    }
    const revision = Number(res.header.revision);
    // A transaction's keys mostly share their top-level prefix: one note per run of it.
    let noted = '';
    for (const op of ops) if (!noted || !op.key.startsWith(noted)) noted = this.noteWrite(op.key, revision);
    return revision;
  }

  /**
   * The revision of this process's latest write under a top-level prefix (`nodes/`), or 0: a
   * cache of that prefix holding this revision holds every write this process made there, so it
   * can answer a client that reads what it has just written.
   */
  lastWrite(prefix: string): number {
    return this.written.get(prefix) ?? 0;
  }

  /**
   * This store as a leader's writer: every transaction (txn, batch, put, create, delete) also
   * compares the fence, one more compare in the same round trip. Reads are the store's own.
   */
  fenced(fence: Fence): Store {
    const view = Object.create(this) as Store;
    view.fence = fence;
    return view;
  }

  /** After a refused fenced transaction: throws FenceLostError if the fence no longer holds. */
  private async checkFence(fence: Fence): Promise<void> {
    const res = await this.call('range', () => this.client.kv.range({ key: Buffer.from(this.fullKey(fence.key)) }));
    const kv = res.kvs[0];
    if (kv && Number(kv.mod_revision) === fence.revision) return;
    fence.onLost?.();
    throw new FenceLostError(fence.key);
  }

  /** Records a write of `revision` under the key's top-level prefix; returns that prefix. */
  private noteWrite(key: string, revision: number): string {
    const slash = key.indexOf('/');
    const prefix = slash < 0 ? key : key.slice(0, slash + 1);
    if ((this.written.get(prefix) ?? 0) < revision) this.written.set(prefix, revision);
    return prefix;
  }

  /**
   * Writes many independent ops in transactions of at most MAX_TXN_OPS, BATCH_TXNS_IN_FLIGHT
   * at a time (one at a time left etcd idle between round trips: 4 in flight took 1.4-1.8x the
   * keys/s). A chunk whose condition fails is retried op by op, so one stale object does not hold
   * back the others. Returns the keys whose write was refused as a conflict (in op order), and
   * the highest revision written. A failure other than a conflict is thrown once the chunks in
   * flight have settled.
   */
  async batch(ops: WriteOp[]): Promise<{ conflicts: string[]; revision: number }> {
    const chunks: WriteOp[][] = [];
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) chunks.push(ops.slice(i, i + MAX_TXN_OPS));
    const conflictsOf: string[][] = chunks.map(() => []);
    let revision = 0;
    let failure: Error | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < chunks.length) {
        const i = next++;
        try {
          revision = Math.max(revision, await this.writeChunk(chunks[i]!, conflictsOf[i]!));
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_TXNS_IN_FLIGHT, chunks.length) }, worker));
    if (failure !== undefined) throw failure;
    return { conflicts: conflictsOf.flat(), revision };
  }

  /** One chunk of a batch: all at once, or op by op after a conflict. */
  private async writeChunk(chunk: WriteOp[], conflicts: string[]): Promise<number> {
    try {
      return await this.txn(chunk);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
    let revision = 0;
    for (const op of chunk) {
      try {
        revision = Math.max(revision, await this.txn([op]));
      } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
        conflicts.push(op.key);
      }
    }
    return revision;
  }

  async create(key: string, value: unknown): Promise<number> {
    return this.txn([{ type: 'create', key, value }]);
  }

  async put(key: string, value: unknown, version?: number): Promise<number> {
    return this.txn([{ type: 'put', key, value, ...(version !== undefined ? { version } : {}) }]);
  }

  async delete(key: string, version?: number): Promise<number> {
    return this.txn([{ type: 'delete', key, ...(version !== undefined ? { version } : {}) }]);
  }

  /** Deletes every key under a relative prefix (unconditionally). */
  async deletePrefix(keyPrefix: string): Promise<number> {
    const start = this.fullKey(keyPrefix);
    const res = await this.call('delete_range', () =>
      this.client.kv.deleteRange({ key: Buffer.from(start), range_end: rangeEnd(start) }),
    );
    this.noteWrite(keyPrefix, Number(res.header.revision));
    return Number(res.deleted);
  }

  /** A lease of `ttlSeconds`; keys written with it vanish when it expires. Returns its id. */
  async grantLease(ttlSeconds: number): Promise<string> {
    const res = await this.call('lease_grant', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }));
    return String(res.ID);
  }

  async keepAliveOnce(leaseId: string): Promise<void> {
    await this.call('lease_keepalive', () => this.client.lease(Number(leaseId) as never, { autoKeepAlive: false }).keepaliveOnce());
  }

  /** One keepalive of a lease: false if etcd no longer has it (expired or revoked). */
  async renewLease(leaseId: string): Promise<boolean> {
    const stream = await this.call('lease_stream', () => this.client.leaseClient.leaseKeepAlive());
    try {
      const res = await this.call(
        'lease_keepalive',
        () =>
          new Promise<{ TTL: string }>((resolve, reject) => {
            stream.on('data', resolve);
            stream.on('error', reject);
            stream.write({ ID: leaseId });
          }),
      );
      return res.TTL !== '0';
    } finally {
      stream.end();
    }
  }

  async revokeLease(leaseId: string): Promise<void> {
    await this.call('lease_revoke', () => this.client.leaseClient.leaseRevoke({ ID: leaseId }));
  }

  /**
   * Every key under the prefix with its value as stored, read at one revision (pages of
   * `pageSize`, each at the revision of the first): a consistent snapshot. Keys on a lease
   * (leadership, sessions, server registrations) are left out: they die with their lease.
   */
  async snapshot(pageSize = 2000): Promise<{ revision: number; keys: { key: string; value: Buffer }[] }> {
    const end = rangeEnd(this.prefix);
    const out: { key: string; value: Buffer }[] = [];
    let start = Buffer.from(this.prefix);
    let revision: number | undefined;
    for (;;) {
      const res = await this.call('range', () =>
        this.client.kv.range({ key: start, range_end: end, limit: pageSize, ...(revision !== undefined ? { revision } : {}) }),
      );
      revision ??= Number(res.header.revision);
      for (const kv of res.kvs) if (!kv.lease || kv.lease === '0') out.push({ key: this.relKey(kv.key), value: kv.value });
      if (!res.more || !res.kvs.length) break;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return { revision: revision, keys: out };
  }

  /** Whether no key at all is under the prefix. */
  async isEmpty(): Promise<boolean> {
    return (await this.count('')) === 0;
  }

  /**
   * Writes keys as a snapshot holds them (values as stored), each only if absent: a restore.
   * Transactions of MAX_TXN_OPS; throws ConflictError naming a key that exists already.
   */
  async loadSnapshot(kvs: { key: string; value: Buffer }[]): Promise<void> {
    for (let i = 0; i < kvs.length; i += MAX_TXN_OPS) {
      const chunk = kvs.slice(i, i + MAX_TXN_OPS);
      const res = await this.call('txn', () =>
        this.client.kv.txn({
          compare: chunk.map((kv) => ({ key: Buffer.from(this.fullKey(kv.key)), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 })),
          success: chunk.map((kv) => ({ request_put: { key: Buffer.from(this.fullKey(kv.key)), value: kv.value } })),
          failure: [],
        }),
      );
      if (!res.succeeded) throw new ConflictError(chunk[0]!.key, `restore: keys under ${this.prefix} exist already (at or after ${chunk[0]!.key})`);
    }
  }

  /** Compacts the store's history up to `revision` (used by operators and tests). */
  async compact(revision: number): Promise<void> {
    await this.call('compact', () => this.client.kv.compact({ revision, physical: true }));
  }

  async revision(): Promise<number> {
    const res = await this.call('range', () => this.client.kv.range({ key: Buffer.from(this.fullKey('')), count_only: true }));
    return Number(res.header.revision);
  }

  /**
   * Watches a relative prefix from `fromRevision` (inclusive). Emits each event to `onEvent`;
   * if etcd cancels the watch (compaction, for instance) `onLost` is called and the watch is
   * closed: the caller must re-list. Returns a function that closes the watch.
   */
  async watch<T>(
    keyPrefix: string,
    fromRevision: number,
    onEvent: (ev: WatchEvent<T>, revision: number) => void,
    onLost: (err: Error) => void,
  ): Promise<() => Promise<void>> {
    const watcher: Watcher = await this.client
      .watch()
      .prefix(this.fullKey(keyPrefix))
      .startRevision(String(fromRevision))
      .withPreviousKV()
      .create();
    let lost = false;
    watcher.on('put', (kv) => onEvent({ type: 'put', key: this.relKey(kv.key), value: decode<T>(kv) }, Number(kv.mod_revision)));
    watcher.on('delete', (kv, previous) =>
      onEvent(
        { type: 'delete', key: this.relKey(kv.key), ...(previous ? { previous: decode<T>(previous) } : {}) },
        Number(kv.mod_revision),
      ),
    );
    watcher.on('disconnected', (err: Error) => {
      this.notAnsweringSince ??= Date.now();
      this.watchStream.lost(err, keyPrefix);
    });
    watcher.on('connected', () => {
      this.notAnsweringSince = undefined;
      this.watchStream.open();
    });
    watcher.on('error', (err: Error) => {
      if (lost) return;
      lost = true;
      this.log.warn({ err: err.message, keyPrefix }, 'watch cancelled; re-listing');
      watcher.cancel().catch(() => undefined);
      onLost(err);
    });
    return async () => {
      lost = true;
      await watcher.cancel().catch(() => undefined);
    };
  }

  // ---------- etcd's members (servers forming one cluster of embedded etcds) ----------

  /** The etcd cluster's members; a member added but not started yet has no name. */
  async members(): Promise<EtcdMember[]> {
    const res = await this.call('member_list', () => this.client.cluster.memberList({ linearizable: true }));
    return res.members.map(memberOf);
  }

  /** The id of the member this store's endpoint answers from. */
  async localMemberId(): Promise<string> {
    const res = await this.call('status', () => this.client.maintenance.status());
    return String(res.header.member_id);
  }

  /** Adds a learner (no vote, so the quorum does not change until it is promoted). */
  async addLearner(peerUrls: string[]): Promise<{ member: EtcdMember; members: EtcdMember[] }> {
    const res = await this.call('member_add', () => this.client.cluster.memberAdd({ peerURLs: peerUrls, isLearner: true }));
    return { member: memberOf(res.member), members: res.members.map(memberOf) };
  }

  /** Makes a learner that caught up with the leader a voting member (etcd refuses one that has not). */
  async promoteMember(id: string): Promise<void> {
    await this.call('member_promote', () => this.client.cluster.memberPromote({ ID: id }));
  }

  async removeMember(id: string): Promise<void> {
    await this.call('member_remove', () => this.client.cluster.memberRemove({ ID: id }));
  }

  async updateMemberPeers(id: string, peerUrls: string[]): Promise<void> {
    await this.call('member_update', () => this.client.cluster.memberUpdate({ ID: id, peerURLs: peerUrls }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private relKey(key: Buffer): string {
    return key.toString().slice(this.prefix.length);
  }

  private async firstStale(ops: WriteOp[]): Promise<string | undefined> {
    for (const op of ops) {
      const res = await this.call('range', () => this.client.kv.range({ key: Buffer.from(this.fullKey(op.key)) }));
      const kv = res.kvs[0];
      if (op.type === 'create' && kv) return op.key;
      if (op.type !== 'create' && op.version !== undefined && (!kv || Number(kv.mod_revision) !== op.version)) return op.key;
    }
    return undefined;
  }

  private async call<R>(op: string, fn: () => Promise<R>): Promise<R> {
    const done = etcdRequestSeconds.startTimer({ op });
    try {
      const res = await fn();
      this.notAnsweringSince = undefined;
      return res;
    } catch (err) {
      const e = storeError(err);
      if (e instanceof StoreNotAnsweringError || e instanceof StoreTimeoutError) this.notAnsweringSince ??= Date.now();
      throw e;
    } finally {
      done();
    }
  }
}

export interface EtcdMember {
  id: string;
  /** Empty until the member has started. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  learner: boolean;
}

function memberOf(m: { ID: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }): EtcdMember {
  return { id: String(m.ID), name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, learner: !!m.isLearner };
}

function normalisePrefix(p: string): string {
  let out = p.startsWith('/') ? p : `/${p}`;
  if (!out.endsWith('/')) out += '/';
  return out;
}

/** The etcd range end that selects every key starting with `prefix`. */
function rangeEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i] = buf[i]! + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** The version is etcd's to give: it is never stored inside the value. */
function encode(value: unknown): Buffer {
  if (value && typeof value === 'object' && 'metadata' in value) {
    const v = value as { metadata: Record<string, unknown> };
    const { version: _v, ...meta } = v.metadata;
    return Buffer.from(JSON.stringify({ ...v, metadata: meta }));
  }
  if (value && typeof value === 'object' && 'version' in value) {
    const { version: _v, ...rest } = value as Record<string, unknown>;
    return Buffer.from(JSON.stringify(rest));
  }
  return Buffer.from(JSON.stringify(value));
}

/** Objects carry their version either at top level (task, node) or in metadata (service). */
function decode<T>(kv: IKeyValue): T {
  const obj = JSON.parse(kv.value.toString()) as Record<string, unknown>;
  const version = Number(kv.mod_revision);
  if (obj.metadata && typeof obj.metadata === 'object') {
    (obj.metadata as Record<string, unknown>).version = version;
  } else {
    obj.version = version;
  }
  return obj as T;
}
