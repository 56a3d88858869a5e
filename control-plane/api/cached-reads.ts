// What the GET routes read from the API's caches instead of the store, and when: tasks as the
// cache has them; services, rollouts and nodes only once the cache holds this store's own writes
// to them (a client reads its own apply or cordon at once), else from the store. Services and
// nodes are shown with the task counts relayed from the main thread (task-counts.ts); a service
// changed since the main thread last counted it is counted from etcd.
// While etcd does not answer (store.answering), every read is served from the caches as they
// are, without waiting for them to catch up: they hold what etcd held when it stopped answering,
// and nothing can have been written since. A cache never filled (tasks nobody listed yet) is a 503.
import { StoreUnavailableError } from '../../common/errors.js';
import { storedEvents, type BerthEvent } from '../../common/events.js';
import { sleep } from '../../common/sleep.js';
import { StoreNotAnsweringError } from '../store/unavailable.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import { keys, rolloutKeys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { ApiFeeds } from './informer-feed.js';
import { taskIndexes, type TaskIndexes } from '../store/shared-informers.js';
import type { RelayedCounts } from './task-counts.js';
import { nodeViewOf, serviceView, serviceViewOf, type NodeWithTasks, type ServiceWithStatus } from './views.js';

/** Tasks read from the cache instead of listing every task from the store. */
export interface CachedTasks {
  ofService(name: string): Task[];
  ofNode(id: string): Task[];
  all(): Task[];
}

/** Services and rollouts read from the cache (see CachedReads.serviceReads). */
export interface CachedServices {
  all: () => Service[];
  get: (name: string) => Service | undefined;
  update: (name: string) => UpdateStatus | undefined;
}

export class CachedReads {
  private readonly index: TaskIndexes;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly feeds: ApiFeeds,
    private readonly counts: RelayedCounts,
  ) {
    this.index = taskIndexes(feeds.tasks.informer);
  }

  /**
   * The cached tasks, indexed by service and by node (the task informer starts on first use).
   * Tasks are written by the controllers, never by a client: they are served as the cache has
   * them (milliseconds behind; under load, behind by the control plane's backlog), the way
   * Kubernetes serves lists from its watch cache.
   */
  async taskReads(): Promise<CachedTasks> {
    if (this.stopped) throw new StoreUnavailableError('the API is stopping');
    await this.filled(this.feeds.tasks);
    const { byService, byNode } = this.index;
    return {
      ofService: (name) => [...(byService.get(name)?.values() ?? [])],
      ofNode: (id) => [...(byNode.get(id)?.values() ?? [])],
      all: () => [...this.feeds.tasks.informer.cache.values()],
    };
  }

  /**
   * The nodes as the cache has them, once it holds every node write this store made (a client
   * reads its own cordon or label at once); undefined when stopped, or when the cache does not
   * catch up within `waitMs` (the caller reads the store). Nodes change rarely, so this wait is
   * almost never taken, and a `GET /v1/nodes` of 5,000 nodes does not list and decode them from
   * etcd.
   */
  async nodeReads(waitMs = 1000): Promise<Node[] | undefined> {
    if (this.stopped) return undefined;
    const nodes = this.feeds.nodes;
    await this.filled(nodes);
    const caughtUp = await nodes.caughtUp(this.store.lastWrite(keys.nodes), this.store.answering ? waitMs : 0);
    if ((!caughtUp && this.store.answering) || this.stopped) return undefined;
    return [...nodes.informer.cache.values()];
  }

  /**
   * Services and their rollouts as the cache has them, once it holds every write made through
   * this store to either (a client reads its own apply at once); undefined when stopped, or when
   * the cache does not catch up within `waitMs` (the caller reads the store). The API's thread
   * watches no tasks on the etcd stream these share unless a client asks for tasks, so they keep
   * up (a service's change queued behind thousands of task events made lists wait seconds).
   */
  async serviceReads(waitMs = 200): Promise<CachedServices | undefined> {
    if (this.stopped) return undefined;
    const { services, updates } = this.feeds;
    await this.filled(services, updates);
    const wait = this.store.answering ? waitMs : 0;
    const [servicesOk, updatesOk] = await Promise.all([
      services.caughtUp(this.store.lastWrite(keys.services), wait),
      updates.caughtUp(this.store.lastWrite(rolloutKeys.updates), wait),
    ]);
    if (((!servicesOk || !updatesOk) && this.store.answering) || this.stopped) return undefined;
    return {
      all: () => [...services.informer.cache.values()],
      get: (name) => services.informer.cache.get(keys.service(name)),
      update: (name) => updates.informer.cache.get(rolloutKeys.update(name)),
    };
  }

  /**
   * The recorded events, oldest first, from the cache while etcd does not answer; undefined while
   * it does (the route reads them from the store, which holds every event just recorded).
   */
  async eventReads(): Promise<BerthEvent[] | undefined> {
    if (this.stopped || this.store.answering) return undefined;
    const events = this.feeds.events;
    await this.filled(events);
    // Keys are named after their first event's time: in key order, as the store lists them.
    return [...events.informer.cache.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, v]) => storedEvents(v));
  }

  /**
   * Waits for the feeds' first lists. While etcd does not answer, a feed that never filled its
   * cache cannot serve anything: a 503 at once rather than a call that waits for etcd.
   */
  private async filled(...feeds: Array<{ ready(): Promise<void>; filled: boolean }>): Promise<void> {
    const ready = Promise.all(feeds.map((f) => f.ready()));
    for (;;) {
      if (feeds.every((f) => f.filled)) return;
      if (!this.store.answering) throw new StoreNotAnsweringError('the API has not read these objects yet');
      await Promise.race([ready, sleep(250)]);
    }
  }

  /**
   * Services as the API shows them: status from the relayed counts when they were made against
   * the service's version; otherwise (a change the main thread has not counted yet) counted from
   * that service's tasks in etcd, so a new spec is never shown with the old one's up-to-date count.
   */
  async serviceViews(services: Service[], updateOf: (name: string) => UpdateStatus | undefined): Promise<ServiceWithStatus[]> {
    const counts = this.counts;
    await counts.ready;
    return Promise.all(
      services.map(async (s) => {
        const c = counts.service(s.metadata.name, s.metadata.version);
        if (c) return serviceViewOf(s, c, updateOf(s.metadata.name));
        // While etcd does not answer: the API's own cached tasks, if it has them.
        const tasksOf = (): Promise<Task[] | undefined> =>
          Promise.resolve(this.feeds.tasks.filled ? [...(this.index.byService.get(s.metadata.name)?.values() ?? [])] : undefined);
        const items = await this.storeOrCache(async () => (await this.store.list<Task>(keys.tasksOf(s.metadata.name))).items, tasksOf);
        return serviceView(s, items, updateOf(s.metadata.name));
      }),
    );
  }

  /** Nodes as the API shows them (with their task count, as relayed). */
  async nodeViews(nodes: Node[]): Promise<NodeWithTasks[]> {
    const counts = this.counts;
    await counts.ready;
    return nodes.map((n) => nodeViewOf(n, counts.node(n.id)));
  }

  /**
   * `fromStore()`, for a read the cache could not answer at once; if etcd does not answer it,
   * `fromCache()` instead (etcd now known not to answer, the cache serves as it is), else its error.
   */
  async storeOrCache<T>(fromStore: () => Promise<T>, fromCache: () => Promise<T | undefined>): Promise<T> {
    try {
      return await fromStore();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || this.stopped) throw err;
      const cached = await fromCache();
      if (cached === undefined) throw err;
      return cached;
    }
  }

  stop(): void {
    this.stopped = true;
  }
}
