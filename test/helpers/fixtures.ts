// Plain model objects for tests of pure logic (and of the store): a Service and a Node with the
// defaults most tests share, every field overridable. Tasks stay with each test: what a task
// carries (slots, states, timestamps) is what each test is about.
import type { Node, NodeState, Service, ServiceSpec } from '../../common/types.js';

/** A replicated berth/web service of 3 replicas at metadata.version 10. */
export function makeService(spec: Partial<ServiceSpec> = {}, name = 'web'): Service {
  return { apiVersion: 'berth/v1', kind: 'Service', metadata: { name, version: 10 }, spec: { image: 'berth/web', replicas: 3, ...spec } };
}

export interface NodeFixtureOptions extends Partial<Node> {
  /** Status and creation timestamp; default now. */
  at?: string;
  /** Status state; default ready. */
  state?: NodeState;
}

/** An active, ready docker node named `id` with 1 CPU and 1 GiB (capacity = allocatable). */
export function makeNode(id: string, opts: NodeFixtureOptions = {}): Node {
  const { at = new Date().toISOString(), state = 'ready', ...over } = opts;
  return {
    id,
    name: id,
    labels: {},
    availability: 'active',
    status: { state, timestamp: at },
    capacity: { cpu: 1000, memory: 1 << 30 },
    allocatable: { cpu: 1000, memory: 1 << 30 },
    runtime: 'docker',
    createdAt: at,
    ...over,
  };
}
