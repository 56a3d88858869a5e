// Tasks by service and by node, kept from a tasks informer's events, so views derived from tasks
// (a service's counts, a node's task count) cost no scan of every task.
import type { Task } from '../../common/types.js';
import type { InformerEvent } from '../store/informer.js';

/** Tasks by service and by node, kept from the tasks feed, so derived views cost no full scan. */
export class TaskIndex {
  readonly byService = new Map<string, Map<string, Task>>();
  readonly byNode = new Map<string, Map<string, Task>>();

  seed(entries: Iterable<[string, Task]>): void {
    for (const [k, t] of entries) this.add(k, t);
  }

  apply(ev: InformerEvent<Task>): void {
    if (ev.previous) this.remove(ev.key, ev.previous);
    if (ev.type === 'put') this.add(ev.key, ev.value);
  }

  ofService(name: string): Task[] {
    return [...(this.byService.get(name)?.values() ?? [])];
  }

  ofNode(id: string): Task[] {
    return [...(this.byNode.get(id)?.values() ?? [])];
  }

  private add(key: string, t: Task): void {
    bucket(this.byService, t.serviceName).set(key, t);
    if (t.nodeId) bucket(this.byNode, t.nodeId).set(key, t);
  }

  private remove(key: string, t: Task): void {
    this.byService.get(t.serviceName)?.delete(key);
    if (t.nodeId) this.byNode.get(t.nodeId)?.delete(key);
  }
}

function bucket<K, V>(m: Map<K, Map<string, V>>, k: K): Map<string, V> {
  let b = m.get(k);
  if (!b) m.set(k, (b = new Map<string, V>()));
  return b;
}
