// Ranking among nodes that can take a task: spread a service's replicas first (fewest live
// tasks of the service), then least allocated (lowest of the larger cpu or memory fraction the
// node would have with the task), then fewest live tasks overall, then name, so the same input
// always gives the same placement.
import type { NodeResources } from '../../common/types.js';
import type { NodeInfo } from './node-usage.js';

export interface Rank {
  serviceTasks: number;
  allocated: number;
  tasks: number;
  name: string;
}

export function rankOf(info: NodeInfo, service: string, request: NodeResources): Rank {
  const { usage, node } = info;
  return {
    serviceTasks: usage.liveByService.get(service) ?? 0,
    allocated: Math.max(
      fraction(usage.cpu + request.cpu, node.allocatable.cpu),
      fraction(usage.memory + request.memory, node.allocatable.memory),
    ),
    tasks: usage.live,
    name: node.name,
  };
}

/** Negative when `a` is the better node. */
export function compareRank(a: Rank, b: Rank): number {
  return (
    a.serviceTasks - b.serviceTasks ||
    a.allocated - b.allocated ||
    a.tasks - b.tasks ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

function fraction(used: number, allocatable: number): number {
  if (allocatable > 0) return used / allocatable;
  return used > 0 ? Number.POSITIVE_INFINITY : 0;
}

/** Binary min-heap: the best node of a group in O(log nodes) instead of a scan per task. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < a.length && this.less(a[l]!, a[best]!)) best = l;
      if (r < a.length && this.less(a[r]!, a[best]!)) best = r;
      if (best === i) break;
      [a[i], a[best]] = [a[best]!, a[i]!];
      i = best;
    }
    return top;
  }
}
