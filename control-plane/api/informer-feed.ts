// The informers the API thread reads (services, tasks, nodes, rollout states, events), each
// started on first use and fanning its changes out to the watch streams. Owns: starting them,
// "has the cache caught up with this revision", and letting go of them when the API closes.
import type { Logger } from 'pino';
import type { BerthEvent, StoredEvents } from '../../common/events.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { keys, rolloutKeys } from '../store/keys.js';
import { informerFor, type SharedInformers } from '../store/shared-informers.js';
import type { Store } from '../store/store.js';

export type FeedListener<T> = (ev: InformerEvent<T>, revision: number) => void;

/** One informer of a prefix, started on first use, fanning its changes out to listeners. */
export class Feed<T> {
  readonly informer: Informer<T>;
  private readonly listeners = new Set<FeedListener<T>>();
  private started: Promise<void> | undefined;
  private readonly release: () => Promise<void>;
  /** `shared`: the thread's informer of this prefix, subscribed to instead of watching on our own. */
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

  /** Whether the informer has filled its cache once (it is then served even while etcd is down). */
  filled = false;

  ready(): Promise<void> {
    if (!this.started) {
      this.informer.start();
      this.started = this.informer.synced.then(() => void (this.filled = true));
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
      const check: FeedListener<T> = () => {
        if (this.informer.lastRevision >= revision) done(true);
      };
      const timer = setTimeout(() => done(false), waitMs);
      this.listeners.add(check);
    });
  }

  listen(l: FeedListener<T>): void {
    this.listeners.add(l);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.release();
  }
}

/** The API's feeds: the thread's shared informers, and one of its own for events. */
export class ApiFeeds {
  readonly services: Feed<Service>;
  readonly tasks: Feed<Task>;
  readonly nodes: Feed<Node>;
  readonly events: Feed<StoredEvents | BerthEvent>;
  /** Rollout states, for `status.update` of services. */
  readonly updates: Feed<UpdateStatus>;

  constructor(store: Store, logger: Logger, informers: SharedInformers) {
    const log = logger.child({ component: 'watch-cache' });
    this.services = new Feed(store, keys.services, log, informers.services);
    this.tasks = new Feed(store, keys.tasks, log, informers.tasks);
    this.nodes = new Feed(store, keys.nodes, log, informers.nodes);
    this.events = new Feed(store, keys.events, log);
    this.updates = new Feed(store, rolloutKeys.updates, log, informers.updates);
  }

  async stop(): Promise<void> {
    await Promise.all([this.services.stop(), this.tasks.stop(), this.nodes.stop(), this.events.stop(), this.updates.stop()]);
  }
}
