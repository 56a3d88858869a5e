// The watch cache behind /v1/watch: per watch kind, one history (watch-history.ts) fed from the
// API thread's informers (informer-feed.ts), shared by every connection. Services and nodes are
// sent as the API shows them (status and task count from the counts the main thread relays, a
// service's rollout as `status.update`), so a count or rollout change is a MODIFIED of the
// service or node. Owns: building the feeds and the reads the routes use (cached-reads.ts), and
// turning changes into each kind's stream.
import type { Logger } from 'pino';
import { storedEvents } from '../../common/events.js';
import type { Node } from '../../common/types.js';
import { WatchEventType, WatchKind } from '../../common/watch.js';
import { keys, rolloutKeys } from '../store/keys.js';
import type { SharedInformers } from '../store/shared-informers.js';
import type { Store } from '../store/store.js';
import { CachedReads } from './cached-reads.js';
import { ApiFeeds } from './informer-feed.js';
import type { RelayedCounts } from './task-counts.js';
import { nodeViewOf, serviceViewOf, type ServiceWithStatus } from './views.js';
import { changeType, restateIn, statusOf, WatchHistory, type Subscriber } from './watch-history.js';

export interface WatchCacheOptions {
  store: Store;
  logger: Logger;
  /** The API thread's informers (its own store client's). */
  informers: SharedInformers;
  /** The task counts of services and nodes as the main thread relays them (task-counts.ts). */
  counts: RelayedCounts;
}

export class WatchCache {
  /** What the GET routes read. */
  readonly reads: CachedReads;
  private readonly feeds: ApiFeeds;
  private readonly counts: RelayedCounts;
  private readonly streams = new Map<WatchKind, Promise<WatchHistory>>();
  private stopped = false;

  constructor(opts: WatchCacheOptions) {
    this.feeds = new ApiFeeds(opts.store, opts.logger, opts.informers);
    this.counts = opts.counts;
    this.reads = new CachedReads(opts.store, this.feeds, opts.counts);
  }

  /**
   * Starts the feeds the API's reads need at once (services, rollouts, nodes, events, and the
   * relayed counts), so the first calls do not wait for their lists and all of them can be served
   * while etcd does not answer. Not tasks: only task lists and task watches need those.
   */
  async warm(): Promise<void> {
    const { services, updates, nodes, events } = this.feeds;
    await Promise.all([services.ready(), updates.ready(), nodes.ready(), events.ready(), this.counts.ready]);
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
    this.reads.stop();
    for (const s of this.streams.values()) (await s.catch(() => undefined))?.close();
    await this.feeds.stop();
  }

  private async open(kind: WatchKind): Promise<WatchHistory> {
    const stream = new WatchHistory();
    const { tasks, events, services, updates, nodes } = this.feeds;
    switch (kind) {
      case WatchKind.Tasks:
        await tasks.ready();
        stream.init(tasks.informer.lastRevision, tasks.informer.cache);
        tasks.listen((ev, rev) => stream.push(changeType(ev), ev.key, ev.type === 'put' ? ev.value : ev.previous, rev));
        break;
      case WatchKind.Events:
        // Several events are stored under one key: each is a change of its own, keyed by its id.
        await events.ready();
        stream.init(events.informer.lastRevision, [...events.informer.cache.values()].flatMap(storedEvents).map((e) => [e.id, e]));
        events.listen((ev, rev) => {
          const value = ev.type === 'put' ? ev.value : ev.previous;
          if (!value) return;
          for (const e of storedEvents(value)) stream.push(changeType(ev), e.id, e, rev);
        });
        break;
      case WatchKind.Services:
        await Promise.all([services.ready(), updates.ready(), this.counts.ready]);
        await this.openServices(stream);
        break;
      case WatchKind.Nodes:
        await Promise.all([nodes.ready(), this.counts.ready]);
        this.openNodes(stream);
        break;
    }
    if (this.stopped) stream.close();
    return stream;
  }

  /**
   * The services stream. A service changed since the main thread last counted it is held back
   * until counts of its new version arrive (at most a flush later), rather than sent with the old
   * version's up-to-date count: `rollout status` would read that as done.
   */
  private async openServices(stream: WatchHistory): Promise<void> {
    const { services, updates } = this.feeds;
    const counts = this.counts;
    const update = (name: string) => updates.informer.cache.get(rolloutKeys.update(name));
    const cache = services.informer.cache;
    const initial = await this.reads.serviceViews([...cache.values()], update);
    const revision = () => Math.max(services.informer.lastRevision, updates.informer.lastRevision);
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
    services.listen((ev, rev) => emit((ev.type === 'put' ? ev.value : ev.previous).metadata.name, rev));
    updates.listen((ev, rev) => emit((ev.type === 'put' ? ev.value : ev.previous).service, rev));
    counts.onChange((names) => {
      for (const name of names) emit(name, revision());
    });
  }

  private openNodes(stream: WatchHistory): void {
    const { nodes } = this.feeds;
    const counts = this.counts;
    const view = (n: Node) => nodeViewOf(n, counts.node(n.id));
    const cache = nodes.informer.cache;
    stream.init(nodes.informer.lastRevision, [...cache].map(([k, n]) => [k, view(n)]));
    nodes.listen((ev, rev) => {
      stream.push(changeType(ev), ev.key, ev.type === 'put' ? view(ev.value) : stream.current.get(ev.key) ?? ev.previous, rev);
    });
    counts.onChange((_services, ids) => {
      for (const id of ids) restateIn(stream, keys.node(id), cache, view, nodes.informer.lastRevision);
    });
  }
}
