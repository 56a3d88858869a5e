// One informer per watched prefix for the whole control-plane process. The server builds them and
// hands them to the orchestrator, scheduler, dispatcher and API watch cache, which subscribe
// instead of each running its own watch: every change is then received and decoded once.
// Components built alone (tests) still make their own informer (`informerFor`).
import type { Logger } from 'pino';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import { Informer, type InformerEvent, type InformerOptions } from './informer.js';
import type { InformerIndex } from './informer-index.js';
import { keys, rolloutKeys } from './keys.js';
import type { Store } from './store.js';

export interface SharedInformers {
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  services: Informer<Service>;
  /** Rollout states: the orchestrator drives them, the watch cache shows them. */
  updates: Informer<UpdateStatus>;
}

/** The named indexes of the task informer every component reads. */
export interface TaskIndexes {
  /** Tasks by service name, in the order of their last change (the planners' order). */
  byService: InformerIndex<Task>;
  /** Tasks assigned to a node, by node id, in the order they came to it; tasks without a node are not indexed. */
  byNode: InformerIndex<Task>;
}

const serviceOf = (t: Task): string => t.serviceName;
const nodeOf = (t: Task): string | undefined => t.nodeId || undefined;

/** The task indexes of `informer`, added on first call (shared or a component's own informer). */
export function taskIndexes(informer: Informer<Task>): TaskIndexes {
  return {
    byService: informer.addIndex('byService', serviceOf, { moveOnChange: true }),
    byNode: informer.addIndex('byNode', nodeOf),
  };
}

/** Built unstarted; components start them (idempotent). Only the creator stops them, after every component. */
export function createSharedInformers(store: Store, logger: Logger): SharedInformers {
  const log = logger.child({ component: 'informers' });
  const tasks = new Informer<Task>({ store, prefix: keys.tasks, logger: log });
  taskIndexes(tasks);
  return {
    tasks,
    nodes: new Informer<Node>({ store, prefix: keys.nodes, logger: log }),
    services: new Informer<Service>({ store, prefix: keys.services, logger: log }),
    updates: new Informer<UpdateStatus>({ store, prefix: rolloutKeys.updates, logger: log }),
  };
}

export async function stopSharedInformers(informers: SharedInformers): Promise<void> {
  await Promise.all(Object.values(informers).map((i: Informer<unknown>) => i.stop()));
}

/** A component's informer: the shared one, subscribed to, or its own. */
export interface InformerHandle<T> {
  informer: Informer<T>;
  /** Stops its own informer; only unsubscribes from a shared one (its owner stops it). */
  release: () => Promise<void>;
}

export function informerFor<T>(shared: Informer<T> | undefined, opts: InformerOptions<T>): InformerHandle<T> {
  if (!shared) {
    const informer = new Informer<T>(opts);
    return { informer, release: () => informer.stop() };
  }
  const onEvent = opts.onEvent;
  const off = onEvent ? shared.subscribe((ev: InformerEvent<T>) => onEvent(ev)) : () => true;
  return {
    informer: shared,
    release: () => {
      off();
      return Promise.resolve();
    },
  };
}
