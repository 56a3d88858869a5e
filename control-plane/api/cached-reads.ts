// What the GET routes read from the API's caches instead of the store, and when: tasks as the
// cache has them; services, rollouts and nodes only once the cache holds this store's own writes
// to them (a client reads its own apply or cordon at once), else from the store. Services and
// nodes are shown with the task counts relayed from the main thread (task-counts.ts); a service
// changed since the main thread last counted it is counted from etcd.
import { StoreUnavailableError } from '../../common/errors.js';
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
    await this.feeds.tasks.ready();
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
    await nodes.ready();
    if (!(await nodes.caughtUp(this.store.lastWrite(keys.nodes), waitMs)) || this.stopped) return undefined;
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
    await Promise.all([services.ready(), updates.ready()]);
    const [servicesOk, updatesOk] = await Promise.all([
      services.caughtUp(this.store.lastWrite(keys.services), waitMs),
      updates.caughtUp(this.store.lastWrite(rolloutKeys.updates), waitMs),
    ]);
    if (!servicesOk || !updatesOk || this.stopped) return undefined;
    return {
      all: () => [...services.informer.cache.values()],
      get: (name) => services.informer.cache.get(keys.service(name)),
      update: (name) => updates.informer.cache.get(rolloutKeys.update(name)),
    };
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
        const { items } = await this.store.list<Task>(keys.tasksOf(s.metadata.name));
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

  stop(): void {
    this.stopped = true;
  }
}
