// Runs the filters that apply to a task over nodes and counts, per filter, the nodes it
// rejected, so an unplaceable task can say why (swarmkit's pipeline.go).
import type { Node, Task } from '../../common/types.js';
import { defaultFilters, type Filter, type FilterKind } from './filters.js';
import type { NodeUsage } from './node-usage.js';
import { FailureReason } from './reasons.js';

export class Pipeline {
  private active: Filter[] = [];
  private readonly failures = new Map<Filter, number>();

  constructor(private readonly filters: Filter[] = defaultFilters()) {}

  /** The nodes of the pass, for the filters that judge a node against the others. */
  setNodes(nodes: readonly Node[]): void {
    for (const f of this.filters) f.setNodes?.(nodes);
  }

  /** Prepares the filters for a task and forgets the failures counted for the previous one. */
  setTask(task: Task): void {
    this.active = this.filters.filter((f) => f.setTask(task));
    this.failures.clear();
  }

  /**
   * True when the node passes every applicable filter (of one kind, if given). A node that
   * fails is counted against the first filter it fails.
   */
  check(node: Node, usage: NodeUsage, kind?: FilterKind): boolean {
    for (const f of this.active) {
      if (kind !== undefined && f.kind !== kind) continue;
      if (!f.check(node, usage)) {
        this.failures.set(f, (this.failures.get(f) ?? 0) + 1);
        return false;
      }
    }
    return true;
  }

  /**
   * `0/3 nodes available: 2 insufficient memory, 1 not ready`: the most common reason first,
   * filter order among equals.
   */
  explain(totalNodes: number): string {
    const head = `0/${totalNodes} nodes available`;
    if (totalNodes === 0 || this.failures.size === 0) return `${head}: ${FailureReason.NoNodes}`;
    const parts = this.filters
      .filter((f) => this.failures.has(f))
      .map((f, order) => ({ count: this.failures.get(f)!, order, text: f.explain(this.failures.get(f)!) }))
      .sort((a, b) => b.count - a.count || a.order - b.order);
    return `${head}: ${parts.map((p) => p.text).join(', ')}`;
  }
}
