// The watch cache behind /v1/watch: one informer per key prefix, shared by every connection, and
// per watch kind a bounded history of the changes it sent, so a client that reconnects with
// `fromVersion` gets exactly what it missed from memory (Kubernetes' watch cache, in small).
// A version older than the history (the cache started later, or trimmed it) is "gone": the
// client lists again. Services and nodes are sent as the API shows them (status and task count
// derived from tasks, a service's rollout as `status.update`), so a task or rollout change that
// changes those is a MODIFIED of the service or node.
import type { Logger } from 'pino';
import { BerthError } from '../../common/errors.js';
import { storedEvents, type BerthEvent, type StoredEvents } from '../../common/events.js';
import type { Node, Service, Task } from '../../common/types.js';
import { WatchEventType, WatchKind, type WatchChange } from '../../common/watch.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor, type SharedInformers } from '../store/shared-informers.js';
import { keys, rolloutKeys } from '../store/keys.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Store } from '../store/store.js';
import type { RelayedCounts } from './task-counts.js';
import { TaskIndex } from './task-index.js';
import { nodeView, nodeViewOf, serviceView, serviceViewOf, type NodeWithTasks, type ServiceWithStatus } from './views.js';

/** Changes kept per kind for resuming clients. */
const HISTORY = 10_000;

export class VersionGoneError extends BerthError {
  override readonly code: string = 'GONE';
}

type Listener<T> = (ev: InformerEvent<T>, revision: number) => void;

/** One informer of a prefix, started on first use, fanning its changes out to the streams. */
class Feed<T> {
  readonly informer: Informer<T>;
  private readonly listeners = new Set<Listener<T>>();
  private started: Promise<void> | undefined;
  private readonly release: () => Promise<void>;
  /** `shared`: the process's informer of this prefix, read instead of watching on our own. */
  constructor(store: Store, prefix: string, logger: Logger, shared?: Informer<T>) {
    ({ informer: this.informer, release: this.release } = informerFor<T>(shared, {
      store,
      prefix,
      logger,
      // Inside onEvent the informer's revision is the revision of the change it reports.
      onEvent: (ev) => {
        for (const l of this.listeners) l(ev, this.informer.lastRevision);
      },
    }));
  }

  ready(): Promise<void> {
    if (!this.started) {
      this.informer.start();
      this.started = this.informer.synced;
    }
    return this.started;
  }

  /** Whether the cache reaches `revision` within `waitMs`. */
  caughtUp(revision: number, waitMs: number): Promise<boolean> {
    if (this.informer.lastRevision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(ok);
      };
      const check: Listener<T> = () => {
        if (this.informer.lastRevision >= revision) done(true);
      };
      const timer = setTimeout(() => done(false), waitMs);
      this.listeners.add(check);
    });
  }

  listen(l: Listener<T>): void {
    this.listeners.add(l);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.release();
  }
}

type Subscriber = (change: WatchChange) => void;

/** The changes of one watch kind: current objects, a history, and who listens. */
class Stream {
  /** Versions after `from` are all in the history. */
  private from = 0;
  private head = 0;
  private readonly history: WatchChange[] = [];
  private readonly subscribers = new Set<Subscriber>();
  /** What was last sent of each object, by key. */
  readonly current = new Map<string, unknown>();

  init(revision: number, objects: Iterable<[string, unknown]>): void {
    this.from = this.head = revision;
    for (const [k, o] of objects) this.current.set(k, o);
  }

  push(type: WatchChange['type'], key: string, object: unknown, revision: number): void {
    if (type === WatchEventType.Deleted) this.current.delete(key);
    else this.current.set(key, object);
    // Changes of two prefixes may interleave: the version never goes back.
    this.head = Math.max(this.head, revision);
    const change: WatchChange = { type, object, version: this.head };
    this.history.push(change);
    if (this.history.length > HISTORY) this.from = this.history.shift()!.version;
    for (const s of this.subscribers) s(change);
  }

  /** Sends the current objects (or what followed `fromVersion`), then every change. */
  subscribe(fromVersion: number | undefined, send: Subscriber): () => void {
    if (fromVersion === undefined) {
      for (const object of this.current.values()) send({ type: WatchEventType.Added, object, version: this.head });
    } else {
      if (fromVersion < this.from) {
        throw new VersionGoneError(`version ${fromVersion} is too old to resume from (the oldest is ${this.from}): list again`);
      }
      for (const c of this.history) if (c.version > fromVersion) send(c);
    }
    this.subscribers.add(send);
    return () => this.subscribers.delete(send);
  }

  close(): void {
    this.subscribers.clear();
  }
}

/**
 * A MODIFIED of the object at `key` when a change elsewhere (a task, a rollout) changed its
 * derived view (status, task count); nothing if it is gone or was never sent.
 */
function restateIn<T>(stream: Stream, key: string, cache: ReadonlyMap<string, T>, view: (o: T) => unknown, rev: number): void {
  const obj = cache.get(key);
  const before = stream.current.get(key);
  if (obj === undefined || !before) return;
  const after = view(obj);
  if (statusOf(after) !== statusOf(before)) stream.push(WatchEventType.Modified, key, after, rev);
}

const statusOf = (o: unknown): string => JSON.stringify((o as { status?: unknown; tasks?: unknown }).status ?? null) + String((o as { tasks?: unknown }).tasks);

/** The watch cache of each store the API serves, for the GET routes to read lists from. */
const byStore = new WeakMap<Store, WatchCache>();

/** What the GET routes read from the cache instead of listing every task from the store. */
export interface CachedTasks {
  ofService(name: string): Task[];
  ofNode(id: string): Task[];
  all(): Task[];
}

/** Services and rollouts read from the cache (see WatchCache.serviceReads). */
export interface CachedServices {
  all: () => Service[];
  get: (name: string) => Service | undefined;
  update: (name: string) => UpdateStatus | undefined;
}

export class WatchCache {
  /** The running cache of `store`, if the API attached one. */
  static of(store: Store): WatchCache | undefined {
    return byStore.get(store);
  }

  private readonly services: Feed<Service>;
  private readonly tasks: Feed<Task>;
  private readonly nodes: Feed<Node>;
  private readonly events: Feed<StoredEvents | BerthEvent>;
  /** Rollout states, for `status.update` of the services stream (as GET /v1/services shows it). */
  private readonly updates: Feed<UpdateStatus>;
  private readonly index = new TaskIndex();
  private tasksIndexed: Promise<void> | undefined;
  private readonly streams = new Map<WatchKind, Promise<Stream>>();
  private stopped = false;

  /**
   * `counts`: the task counts of services and nodes as the main thread sends them (the API on its
   * own thread); without them, counted here from the tasks feed.
   */
  constructor(store: Store, logger: Logger, informers?: SharedInformers, private readonly counts?: RelayedCounts) {
    const log = logger.child({ component: 'watch-cache' });
    this.services = new Feed(store, keys.services, log, informers?.services);
    this.tasks = new Feed(store, keys.tasks, log, informers?.tasks);
    this.nodes = new Feed(store, keys.nodes, log, informers?.nodes);
    this.events = new Feed(store, keys.events, log);
    this.updates = new Feed(store, rolloutKeys.updates, log, informers?.updates);
    this.store = store;
    byStore.set(store, this);
  }

  private readonly store: Store;

  /**
   * The cached tasks, indexed by service and by node, or undefined once stopped. Tasks are
   * written by the controllers, never by a client: they are served as the cache has them
   * (milliseconds behind; under load, behind by the control plane's backlog), the way
   * Kubernetes serves lists from its watch cache. Services and nodes, which clients write and
   * must read back at once, are served only once the cache holds this store's own writes to
   * them (nodeReads, serviceReads), else read from the store.
   *
   * In-process, waiting for the cache to catch up was measured bad for services: every informer
   * shares one etcd watch stream, so under load a service's change queued behind thousands of
   * task events, and a list waited seconds for it. On the API's own thread no task watch shares
   * the stream, and serviceReads is used there only.
   */
  async taskReads(): Promise<CachedTasks | undefined> {
    if (this.stopped) return undefined;
    await this.indexTasks();
    if (this.stopped) return undefined;
    return {
      ofService: (name) => this.index.ofService(name),
      ofNode: (id) => this.index.ofNode(id),
      all: () => [...this.tasks.informer.cache.values()],
    };
  }

  /**
   * The nodes as the shared cache has them, once it holds every node write this process made (a
   * client reads its own cordon or label at once); undefined when stopped, or when the cache
   * does not catch up within `waitMs` (the caller reads the store). Nodes change rarely, so
   * unlike services this wait is almost never taken, and a `GET /v1/nodes` of 5,000 nodes no
   * longer lists and decodes them from etcd.
   */
  async nodeReads(waitMs = 1000): Promise<Node[] | undefined> {
    if (this.stopped) return undefined;
    await this.nodes.ready();
    if (!(await this.nodes.caughtUp(this.store.lastWrite(keys.nodes), waitMs)) || this.stopped) return undefined;
    return [...this.nodes.informer.cache.values()];
  }

  /**
   * Starts the feeds the API's reads need at once (services, rollouts, nodes, and the relayed
   * counts), so the first calls do not wait for their lists. Not tasks: with counts relayed,
   * only task lists and task watches need those.
   */
  async warm(): Promise<void> {
    await Promise.all([this.services.ready(), this.updates.ready(), this.nodes.ready(), this.counts?.ready]);
  }

  /**
   * Services as the API shows them (status counted from their tasks). From the relayed counts
   * when they were made against the service's version; otherwise (no relay, or a change the
   * main thread has not counted yet) from the tasks themselves.
   */
  async serviceViews(services: Service[], updateOf: (name: string) => UpdateStatus | undefined): Promise<ServiceWithStatus[]> {
    const counts = this.counts;
    if (!counts) {
      await this.indexTasks();
      return services.map((s) => serviceView(s, this.index.ofService(s.metadata.name), updateOf(s.metadata.name)));
    }
    await counts.ready;
    return Promise.all(
      services.map(async (s) => {
        const c = counts.service(s.metadata.name, s.metadata.version);
        if (c) return serviceViewOf(s, c, updateOf(s.metadata.name));
        const { items } = await this.store.list<Task>(keys.tasksOf(s.metadata.name));
        return serviceView(s, items, updateOf(s.metadata.name));
      }),
    );
  }

  /** Nodes as the API shows them (with their task count). */
  async nodeViews(nodes: Node[]): Promise<NodeWithTasks[]> {
    const counts = this.counts;
    if (!counts) {
      await this.indexTasks();
      return nodes.map((n) => nodeView(n, this.index.ofNode(n.id)));
    }
    await counts.ready;
    return nodes.map((n) => nodeViewOf(n, counts.node(n.id)));
  }

  /**
   * Services and their rollouts as the cache has them, once it holds every write made through
   * this cache's store to either (a client reads its own apply at once); undefined without relayed counts,
   * when stopped, or when the cache does not catch up within `waitMs` (the caller reads the
   * store). Only on the API's own thread: there no watch of every task shares the etcd stream
   * with these, so they keep up (in-process, a service's change queued behind thousands of task
   * events, see taskReads).
   */
  async serviceReads(waitMs = 200): Promise<CachedServices | undefined> {
    if (!this.counts || this.stopped) return undefined;
    await Promise.all([this.services.ready(), this.updates.ready()]);
    const [services, updates] = await Promise.all([
      this.services.caughtUp(this.store.lastWrite(keys.services), waitMs),
      this.updates.caughtUp(this.store.lastWrite(rolloutKeys.updates), waitMs),
    ]);
    if (!services || !updates || this.stopped) return undefined;
    return {
      all: () => [...this.services.informer.cache.values()],
      get: (name) => this.services.informer.cache.get(keys.service(name)),
      update: (name) => this.updates.informer.cache.get(rolloutKeys.update(name)),
    };
  }

  /** Calls `send` with the current objects (or the changes after `fromVersion`), then each change. Throws VersionGoneError. */
  async subscribe(kind: WatchKind, fromVersion: number | undefined, send: Subscriber): Promise<() => void> {
    let stream = this.streams.get(kind);
    if (!stream) {
      stream = this.open(kind);
      this.streams.set(kind, stream);
      stream.catch(() => this.streams.delete(kind));
    }
    return (await stream).subscribe(fromVersion, send);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (byStore.get(this.store) === this) byStore.delete(this.store);
    for (const s of this.streams.values()) (await s.catch(() => undefined))?.close();
    await Promise.all([this.services.stop(), this.tasks.stop(), this.nodes.stop(), this.events.stop(), this.updates.stop()]);
  }

  private async open(kind: WatchKind): Promise<Stream> {
    const stream = new Stream();
    switch (kind) {
      case WatchKind.Tasks:
        await this.tasks.ready();
        stream.init(this.tasks.informer.lastRevision, this.tasks.informer.cache);
        this.tasks.listen((ev, rev) => stream.push(changeType(ev), ev.key, ev.type === 'put' ? ev.value : ev.previous, rev));
        break;
      case WatchKind.Events:
        // Several events are stored under one key: each is a change of its own, keyed by its id.
        await this.events.ready();
        stream.init(this.events.informer.lastRevision, [...this.events.informer.cache.values()].flatMap(storedEvents).map((e) => [e.id, e]));
        this.events.listen((ev, rev) => {
          const value = ev.type === 'put' ? ev.value : ev.previous;
          if (!value) return;
          for (const e of storedEvents(value)) stream.push(changeType(ev), e.id, e, rev);
        });
        break;
      case WatchKind.Services:
        if (this.counts) {
          await Promise.all([this.services.ready(), this.updates.ready(), this.counts.ready]);
          await this.openRelayedServices(stream, this.counts);
        } else {
          await Promise.all([this.services.ready(), this.updates.ready(), this.indexTasks()]);
          this.openServices(stream);
        }
        break;
      case WatchKind.Nodes:
        if (this.counts) {
          await Promise.all([this.nodes.ready(), this.counts.ready]);
          this.openRelayedNodes(stream, this.counts);
        } else {
          await Promise.all([this.nodes.ready(), this.indexTasks()]);
          this.openNodes(stream);
        }
        break;
    }
    if (this.stopped) stream.close();
    return stream;
  }

  private openServices(stream: Stream): void {
    const view = (svc: Service) =>
      serviceView(svc, this.index.ofService(svc.metadata.name), this.updates.informer.cache.get(rolloutKeys.update(svc.metadata.name)));
    const views: [string, unknown][] = [...this.services.informer.cache].map(([k, s]) => [k, view(s)]);
    stream.init(Math.max(this.services.informer.lastRevision, this.tasks.informer.lastRevision, this.updates.informer.lastRevision), views);
    const restate = (name: string | undefined, rev: number): void => {
      if (name) restateIn(stream, keys.service(name), this.services.informer.cache, view, rev);
    };
    this.updates.listen((ev, rev) => restate((ev.type === 'put' ? ev.value : ev.previous).service, rev));
    this.services.listen((ev, rev) => {
      stream.push(changeType(ev), ev.key, ev.type === 'put' ? view(ev.value) : stream.current.get(ev.key) ?? ev.previous, rev);
    });
    this.tasks.listen((ev, rev) => {
      for (const name of new Set([ev.previous?.serviceName, ev.type === 'put' ? ev.value.serviceName : undefined])) restate(name, rev);
    });
  }

  private openNodes(stream: Stream): void {
    const view = (n: Node) => nodeView(n, this.index.ofNode(n.id));
    const views: [string, unknown][] = [...this.nodes.informer.cache].map(([k, n]) => [k, view(n)]);
    stream.init(Math.max(this.nodes.informer.lastRevision, this.tasks.informer.lastRevision), views);
    this.nodes.listen((ev, rev) => {
      stream.push(changeType(ev), ev.key, ev.type === 'put' ? view(ev.value) : stream.current.get(ev.key) ?? ev.previous, rev);
    });
    this.tasks.listen((ev, rev) => {
      for (const id of new Set([ev.previous?.nodeId, ev.type === 'put' ? ev.value.nodeId : undefined])) {
        if (id) restateIn(stream, keys.node(id), this.nodes.informer.cache, view, rev);
      }
    });
  }

  /**
   * The services stream from relayed counts. A service changed since the main thread last counted
   * it is held back until counts of its new version arrive (at most a flush later), rather than
   * sent with the old version's up-to-date count: `rollout status` would read that as done.
   */
  private async openRelayedServices(stream: Stream, counts: RelayedCounts): Promise<void> {
    const update = (name: string) => this.updates.informer.cache.get(rolloutKeys.update(name));
    const cache = this.services.informer.cache;
    const initial = await this.serviceViews([...cache.values()], update);
    const revision = () => Math.max(this.services.informer.lastRevision, this.updates.informer.lastRevision);
    stream.init(revision(), initial.map((v) => [keys.service(v.metadata.name), v]));
    const emit = (name: string, rev: number): void => {
      const key = keys.service(name);
      const svc = cache.get(key);
      const before = stream.current.get(key) as ServiceWithStatus | undefined;
      if (!svc) {
        if (before) stream.push(WatchEventType.Deleted, key, before, rev);
        return;
      }
      const c = counts.service(name, svc.metadata.version);
      if (!c) return;
      const after = serviceViewOf(svc, c, update(name));
      if (!before) stream.push(WatchEventType.Added, key, after, rev);
      else if (before.metadata.version !== after.metadata.version || statusOf(before) !== statusOf(after)) stream.push(WatchEventType.Modified, key, after, rev);
    };
    this.services.listen((ev, rev) => emit((ev.type === 'put' ? ev.value : ev.previous).metadata.name, rev));
    this.updates.listen((ev, rev) => emit((ev.type === 'put' ? ev.value : ev.previous).service, rev));
    counts.onChange((names) => {
      for (const name of names) emit(name, revision());
    });
  }

  private openRelayedNodes(stream: Stream, counts: RelayedCounts): void {
    const view = (n: Node) => nodeViewOf(n, counts.node(n.id));
    const cache = this.nodes.informer.cache;
    stream.init(this.nodes.informer.lastRevision, [...cache].map(([k, n]) => [k, view(n)]));
    this.nodes.listen((ev, rev) => {
      stream.push(changeType(ev), ev.key, ev.type === 'put' ? view(ev.value) : stream.current.get(ev.key) ?? ev.previous, rev);
    });
    counts.onChange((_services, ids) => {
      for (const id of ids) restateIn(stream, keys.node(id), cache, view, this.nodes.informer.lastRevision);
    });
  }

  /** The task index is fed before any derived stream listens, so views see the change first. */
  private indexTasks(): Promise<void> {
    this.tasksIndexed ??= (async () => {
      this.tasks.listen((ev) => this.index.apply(ev));
      await this.tasks.ready();
      this.index.seed(this.tasks.informer.cache);
    })();
    return this.tasksIndexed;
  }
}

function changeType<T>(ev: InformerEvent<T>): WatchChange['type'] {
  if (ev.type === 'delete') return WatchEventType.Deleted;
  return ev.previous === undefined ? WatchEventType.Added : WatchEventType.Modified;
}
