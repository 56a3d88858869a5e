// Feasibility filters: one small object per rule (swarmkit's filter.go). `setTask` says whether
// the rule applies to a task at all, `check` judges one node, `explain` words the failures.
// A filter never ranks; ranking lives in rank.ts.
import { parseConstraints, firstUnmet, type Constraint } from '../../common/constraints.js';
import { requestsOf } from '../../common/quantity.js';
import type { Node, Task } from '../../common/types.js';
import { fixedHostPorts, type NodeUsage } from './node-usage.js';
import { FailureReason, constraintNotMet, hostPortsInUse, maxPerNodeReached, volumeElsewhere } from './reasons.js';
import { namedVolumes } from '../../common/workloads.js';

export const FilterKind = {
  /** Depends on the node alone: its answer holds for a whole scheduling pass. */
  Node: 'node',
  /** Depends on what is placed on the node: it can turn false as a pass places tasks. */
  Usage: 'usage',
} as const;
export type FilterKind = (typeof FilterKind)[keyof typeof FilterKind];

export interface Filter {
  readonly kind: FilterKind;
  /** Prepares for this task; false when the rule does not apply to it (the filter is skipped). */
  setTask(task: Task): boolean;
  check(node: Node, usage: NodeUsage): boolean;
  /** Words `failedCount` nodes failing this rule, e.g. `2 insufficient memory`. */
  explain(failedCount: number): string;
  /** The nodes of the pass, for a rule that depends on more than one node (VolumeFilter). */
  setNodes?(nodes: readonly Node[]): void;
}

export class ReadyFilter implements Filter {
  readonly kind = FilterKind.Node;
  setTask(): boolean {
    return true;
  }
  check(node: Node): boolean {
    return node.status.state === 'ready';
  }
  explain(n: number): string {
    return `${n} ${FailureReason.NotReady}`;
  }
}

/** Paused and drained nodes take no new tasks. */
export class AvailabilityFilter implements Filter {
  readonly kind = FilterKind.Node;
  setTask(): boolean {
    return true;
  }
  check(node: Node): boolean {
    return node.availability === 'active';
  }
  explain(n: number): string {
    return `${n} ${FailureReason.NotActive}`;
  }
}

/**
 * Placement constraints. A node is counted against the first constraint it does not meet, so
 * the message names each unmet constraint with its own count.
 */
export class ConstraintFilter implements Filter {
  readonly kind = FilterKind.Node;
  private constraints: Constraint[] = [];
  private unmet = new Map<string, number>();

  setTask(task: Task): boolean {
    this.unmet.clear();
    try {
      this.constraints = parseConstraints(task.spec.placement?.constraints);
    } catch {
      // The API validates constraints; a stored bad one must not stop the scheduler. Treat it
      // as a constraint no node meets, so the task stays pending and says why.
      this.constraints = (task.spec.placement?.constraints ?? []).map((text) => ({
        text,
        field: 'node.id',
        op: '==',
        value: '\0invalid',
      }));
    }
    return this.constraints.length > 0;
  }

  check(node: Node): boolean {
    const c = firstUnmet(node, this.constraints);
    if (!c) return true;
    this.unmet.set(c.text, (this.unmet.get(c.text) ?? 0) + 1);
    return false;
  }

  explain(n: number): string {
    const parts = [...this.unmet]
      .sort((a, b) => b[1] - a[1])
      .map(([text, count]) => `${count} ${constraintNotMet(text)}`);
    return parts.length > 0 ? parts.join(', ') : `${n} ${constraintNotMet(this.constraints.map((c) => c.text).join(', '))}`;
  }
}

export class MemoryFilter implements Filter {
  readonly kind = FilterKind.Usage;
  private request = 0;
  setTask(task: Task): boolean {
    this.request = requestsOf(task.spec.resources).memory;
    return this.request > 0;
  }
  check(node: Node, usage: NodeUsage): boolean {
    return usage.memory + this.request <= node.allocatable.memory;
  }
  explain(n: number): string {
    return `${n} ${FailureReason.InsufficientMemory}`;
  }
}

export class CpuFilter implements Filter {
  readonly kind = FilterKind.Usage;
  private request = 0;
  setTask(task: Task): boolean {
    this.request = requestsOf(task.spec.resources).cpu;
    return this.request > 0;
  }
  check(node: Node, usage: NodeUsage): boolean {
    return usage.cpu + this.request <= node.allocatable.cpu;
  }
  explain(n: number): string {
    return `${n} ${FailureReason.InsufficientCpu}`;
  }
}

/** A fixed host port and protocol can be bound by one task per node. */
export class HostPortFilter implements Filter {
  readonly kind = FilterKind.Usage;
  private ports: string[] = [];
  setTask(task: Task): boolean {
    this.ports = fixedHostPorts(task.spec.ports);
    return this.ports.length > 0;
  }
  check(_node: Node, usage: NodeUsage): boolean {
    return this.ports.every((p) => !usage.ports.has(p));
  }
  explain(n: number): string {
    return `${n} ${hostPortsInUse(this.ports)}`;
  }
}

export class MaxPerNodeFilter implements Filter {
  readonly kind = FilterKind.Usage;
  private service = '';
  private max = 0;
  setTask(task: Task): boolean {
    this.service = task.serviceName;
    this.max = task.spec.placement?.maxPerNode ?? 0;
    return this.max > 0;
  }
  check(_node: Node, usage: NodeUsage): boolean {
    return (usage.liveByService.get(this.service) ?? 0) < this.max;
  }
  explain(n: number): string {
    return `${n} ${maxPerNodeReached(this.max)}`;
  }
}

/**
 * Named volumes: a task whose volume exists on a node may only run there (its data lives there;
 * a replacement must not start empty elsewhere). A volume no node reports yet pins nothing.
 */
export class VolumeFilter implements Filter {
  readonly kind = FilterKind.Node;
  private holders = new Map<string, Set<string>>();
  private pins: { volume: string; nodes: Set<string> }[] = [];
  private names = new Map<string, string>();

  setNodes(nodes: readonly Node[]): void {
    this.holders.clear();
    for (const n of nodes) {
      this.names.set(n.id, n.name);
      for (const v of n.volumes ?? []) {
        const set = this.holders.get(v.name) ?? new Set<string>();
        set.add(n.id);
        this.holders.set(v.name, set);
      }
    }
  }

  setTask(task: Task): boolean {
    this.pins = namedVolumes(task.spec.volumes).flatMap((volume) => {
      const nodes = this.holders.get(volume);
      return nodes?.size ? [{ volume, nodes }] : [];
    });
    return this.pins.length > 0;
  }

  check(node: Node): boolean {
    return this.pins.every((p) => p.nodes.has(node.id));
  }

  explain(n: number): string {
    return `${n} ${volumeElsewhere(this.pins.map((p) => ({ volume: p.volume, nodes: [...p.nodes].map((id) => this.names.get(id) ?? id) })))}`;
  }
}

/** Every filter, in the order a node is judged: the first failing one is the node's reason. */
export function defaultFilters(): Filter[] {
  return [
    new ReadyFilter(),
    new AvailabilityFilter(),
    new ConstraintFilter(),
    new VolumeFilter(),
    new MemoryFilter(),
    new CpuFilter(),
    new HostPortFilter(),
    new MaxPerNodeFilter(),
  ];
}
