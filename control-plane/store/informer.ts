// List-then-watch cache of one key prefix: the way every controller reads the store.
// A cancelled or compacted watch is not logged and forgotten: the informer re-lists, replaces
// its cache, reports the differences as events, and watches again from the new revision.
import type { Logger } from 'pino';
import type { Store, WatchEvent } from './store.js';
import { errorMessage } from '../../common/errors.js';
import { InformerIndex, type IndexFunc, type IndexOptions } from './informer-index.js';

export type InformerEvent<T> =
  | { type: 'put'; key: string; value: T; previous?: T }
  | { type: 'delete'; key: string; previous: T };

export interface InformerOptions<T> {
  store: Store;
  prefix: string;
  logger: Logger;
  /** Called for every change after the initial list (and for differences found by a re-list). */
  onEvent?: (ev: InformerEvent<T>) => void;
  /** Delay before re-listing after a lost watch or a failed list. */
  retryMs?: number;
  /**
   * Resume from a known snapshot instead of listing: watch from `revision + 1` with `items` as
   * the cache. If that revision was compacted away, the informer falls back to a re-list.
   */
  resumeFrom?: { revision: number; items: Map<string, T> };
}

export class Informer<T> {
  readonly cache = new Map<string, T>();
  private revision = 0;
  private closeWatch: (() => Promise<void>) | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** When a list first failed, while lists fail (one warning per run of failures, not per retry). */
  private listFailingSince: number | undefined;
  /** Handlers of the components sharing this informer, beside `onEvent` of its owner. */
  private readonly subscribers = new Set<(ev: InformerEvent<T>) => void>();
  /** Named indexes of the cache, updated before any handler hears of a change. */
  private readonly indexes = new Map<string, InformerIndex<T>>();
  /** The same indexes as a list: updating them per event allocates no iterator. */
  private readonly indexList: InformerIndex<T>[] = [];
  private readonly log: Logger;
  private syncedResolve!: () => void;
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));

  constructor(private readonly opts: InformerOptions<T>) {
    this.log = opts.logger.child({ informer: opts.prefix });
  }

  /** Idempotent: the components sharing an informer may each start it. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const resume = this.opts.resumeFrom;
    if (resume) {
      for (const [k, v] of resume.items) this.cache.set(k, v);
      this.reindex();
      this.revision = resume.revision;
      void this.watchFrom(resume.revision).catch(() => this.scheduleRelist());
    } else {
      void this.relist();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.closeWatch?.();
  }

  /**
   * Adds a handler of every change after the initial list, as `onEvent` gets them; returns its
   * removal. One informer per prefix for the whole process decodes each change once, however
   * many components read it (each of four watchers on `tasks/` decoding every task event was
   * much of the control plane's CPU and garbage). Changes before the call are not replayed:
   * read the cache once `synced` resolves.
   */
  subscribe(handler: (ev: InformerEvent<T>) => void): () => void {
    this.subscribers.add(handler);
    return () => this.subscribers.delete(handler);
  }

  /**
   * Adds the index `name` of the cache (built from what the cache holds, then kept on every
   * change, before any handler is called), or returns it if it exists with the same `fn`.
   */
  addIndex(name: string, fn: IndexFunc<T>, opts?: IndexOptions): InformerIndex<T> {
    const existing = this.indexes.get(name);
    if (existing) {
      if (existing.fn !== fn) throw new Error(`informer ${this.opts.prefix}: index "${name}" exists with another function`);
      return existing;
    }
    const index = new InformerIndex<T>(fn, opts);
    for (const [k, v] of this.cache) index.update(k, undefined, v);
    this.indexes.set(name, index);
    this.indexList.push(index);
    return index;
  }

  /** The index `name`; throws if it was never added. */
  index(name: string): InformerIndex<T> {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer ${this.opts.prefix}: no index "${name}"`);
    return index;
  }

  get lastRevision(): number {
    return this.revision;
  }

  values(): T[] {
    return [...this.cache.values()];
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.closeWatch?.();
      this.closeWatch = undefined;
      const { items, keys, revision } = await this.opts.store.list<T>(this.opts.prefix);
      const fresh = new Map<string, T>();
      items.forEach((item, i) => fresh.set(keys[i]!, this.share(keys[i]!, item)));
      // A re-list reports the differences as events, which update the indexes; the first list
      // fills them at once.
      const first = this.revision === 0;
      if (!first) this.diff(fresh);
      this.cache.clear();
      for (const [k, v] of fresh) this.cache.set(k, v);
      if (first) this.reindex();
      this.revision = revision;
      if (this.listFailingSince !== undefined) {
        this.log.info({ failedForMs: Date.now() - this.listFailingSince }, 'list works again');
        this.listFailingSince = undefined;
      }
      await this.watchFrom(revision);
    } catch (err) {
      if (this.listFailingSince === undefined) {
        this.listFailingSince = Date.now();
        this.log.warn({ err: errorMessage(err) }, 'list failed; retrying');
      } else {
        this.log.debug({ err: errorMessage(err) }, 'list failed again; retrying');
      }
      this.scheduleRelist();
    }
  }

  private async watchFrom(revision: number): Promise<void> {
    if (this.stopped) return;
    this.closeWatch = await this.opts.store.watch<T>(
      this.opts.prefix,
      revision + 1,
      (ev, rev) => this.apply(ev, rev),
      () => this.scheduleRelist(),
    );
    if (this.stopped) await this.closeWatch();
    this.syncedResolve();
  }

  private scheduleRelist(): void {
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.relist(), this.opts.retryMs ?? 500);
  }

  private apply(ev: WatchEvent<T>, rev: number): void {
    if (rev <= this.revision && ev.type === 'put') {
      // Already seen (a resumed watch can replay its last revision).
      const cur = this.cache.get(ev.key) as { version?: number; metadata?: { version?: number } } | undefined;
      const curVersion = cur?.metadata?.version ?? cur?.version ?? 0;
      if (curVersion >= rev) return;
    }
    if (rev > this.revision) this.revision = rev;
    if (ev.type === 'put') {
      const previous = this.cache.get(ev.key);
      const value = this.share(ev.key, ev.value);
      this.cache.set(ev.key, value);
      this.emit({ type: 'put', key: ev.key, value, ...(previous !== undefined ? { previous } : {}) });
    } else {
      const previous = this.cache.get(ev.key);
      latestOf(this.opts.store).delete(ev.key);
      this.cache.delete(ev.key);
      if (previous !== undefined) this.emit({ type: 'delete', key: ev.key, previous });
    }
  }

  /**
   * The object every informer of this store holds for `key` at this version: the first to
   * decode it keeps it, the others drop their own copy (each component's informer on `tasks/`
   * held its own decoded copy of every task). Cached values are read-only for their consumers.
   */
  private share(key: string, value: T): T {
    const latest = latestOf(this.opts.store);
    const cur = latest.get(key) as T | undefined;
    const version = versionOf(value);
    if (cur !== undefined && version !== undefined && versionOf(cur) === version) return cur;
    latest.set(key, internSpec(value));
    return value;
  }

  /** After a re-list: report what changed while the watch was lost. */
  private diff(fresh: Map<string, T>): void {
    for (const [k, prev] of this.cache) {
      if (!fresh.has(k)) this.emit({ type: 'delete', key: k, previous: prev });
    }
    for (const [k, v] of fresh) {
      const prev = this.cache.get(k);
      if (prev === undefined || versionOf(prev) !== versionOf(v)) {
        this.emit({ type: 'put', key: k, value: v, ...(prev !== undefined ? { previous: prev } : {}) });
      }
    }
  }

  private reindex(): void {
    for (const index of this.indexes.values()) {
      index.clear();
      for (const [k, v] of this.cache) index.update(k, undefined, v);
    }
  }

  private emit(ev: InformerEvent<T>): void {
    const value = ev.type === 'put' ? ev.value : undefined;
    for (let i = 0; i < this.indexList.length; i++) this.indexList[i]!.update(ev.key, ev.previous, value);
    if (this.opts.onEvent) this.call(this.opts.onEvent, ev);
    for (const handler of this.subscribers) this.call(handler, ev);
  }

  private call(handler: (ev: InformerEvent<T>) => void, ev: InformerEvent<T>): void {
    try {
      handler(ev);
    } catch (err) {
      this.log.error({ err }, 'informer handler failed');
    }
  }
}

// Per store (one etcd, one prefix): the latest decoded object of each key, shared by its informers.
const latestByStore = new WeakMap<Store, Map<string, unknown>>();

function latestOf(store: Store): Map<string, unknown> {
  let latest = latestByStore.get(store);
  if (!latest) latestByStore.set(store, (latest = new Map<string, unknown>()));
  return latest;
}

// Objects with a `spec` (tasks, services) share one copy of each distinct spec across every
// informer of the process: the tasks of one service revision carry identical specs, and each
// informer holding its own copy per task was most of the control plane's memory at 50,000 tasks.
// Cached values are read-only for their consumers, so sharing is safe. Keyed by the JSON text
// (equal text, equal spec); an entry goes once no cached object uses that spec any more.
const specs = new Map<string, WeakRef<object>>();
const specsGone = new FinalizationRegistry<string>((text) => {
  if (specs.get(text)?.deref() === undefined) specs.delete(text);
});

function internSpec<T>(value: T): T {
  const v = value as { spec?: unknown } | undefined;
  if (!v || typeof v !== 'object' || !v.spec || typeof v.spec !== 'object') return value;
  const text = JSON.stringify(v.spec);
  const shared = specs.get(text)?.deref();
  if (shared) {
    v.spec = shared;
  } else {
    specs.set(text, new WeakRef(v.spec));
    specsGone.register(v.spec, text);
  }
  return value;
}

function versionOf(v: unknown): number | undefined {
  const o = v as { version?: number; metadata?: { version?: number } };
  return o.metadata?.version ?? o.version;
}
