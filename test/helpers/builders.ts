// Plain model objects for tests of pure logic (and of the store): a Service, a Node and a Task
// with the defaults most tests share, every field overridable. A test passes what it relies on
// (slots, states, timestamps, resources); the defaults are only there to make a valid object.
import type { Node, NodeState, Service, ServiceSpec, Task, TaskState, TaskStatus } from '../../common/types.js';

/** The default timestamp of built tasks. */
export const BUILT_AT = '2026-01-01T00:00:00.000Z';

/** A replicated berth/web service of 3 replicas at metadata.version 10. */
export function makeService(spec: Partial<ServiceSpec> = {}, name = 'web'): Service {
  return { apiVersion: 'berth/v1', kind: 'Service', metadata: { name, version: 10 }, spec: { image: 'berth/web', replicas: 3, ...spec } };
}

/** makeService with its metadata overridable too. */
export function service(over: { spec?: Partial<ServiceSpec>; metadata?: Partial<Service['metadata']> } = {}): Service {
  const s = makeService(over.spec, over.metadata?.name);
  return { ...s, metadata: { ...s.metadata, ...over.metadata } };
}

export interface NodeFixtureOptions extends Partial<Node> {
  /** Status and creation timestamp; default now. */
  at?: string;
  /** Status state; default ready. */
  state?: NodeState;
}

/** An active, ready docker node `n1` (name = id) with 1 CPU and 1 GiB (capacity = allocatable). */
export function node(opts: NodeFixtureOptions = {}): Node {
  const { at = new Date().toISOString(), state = 'ready', ...over } = opts;
  const id = over.id ?? 'n1';
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

/** node() named `id`. */
export function makeNode(id: string, opts: NodeFixtureOptions = {}): Node {
  return node({ id, ...opts });
}

export interface TaskOverrides extends Omit<Partial<Task>, 'status'> {
  /** Status state; default pending. */
  state?: TaskState;
  /** Status fields; timestamp default BUILT_AT. */
  status?: Partial<TaskStatus>;
}

let taskSeq = 0;

/**
 * A pending task of service `web`, slot 1, desired running, on no node, created at BUILT_AT;
 * its id is `t<seq>` unless given, its name `<service>.<slot>.<id>` unless given.
 */
export function task(over: TaskOverrides = {}): Task {
  const { state, status, ...rest } = over;
  const id = rest.id ?? `t${String(++taskSeq).padStart(4, '0')}`;
  const serviceName = rest.serviceName ?? 'web';
  const slot = rest.slot ?? 1;
  return {
    id,
    name: `${serviceName}.${slot}.${id}`,
    serviceName,
    slot,
    serviceVersion: 1,
    spec: { image: 'berth/web' },
    desiredState: 'running',
    createdAt: BUILT_AT,
    ...rest,
    status: { state: 'pending', timestamp: BUILT_AT, ...status, ...(state ? { state } : {}) },
  };
}

/** task() of service `s`: its name, spec, version and revision. */
export function taskOf(s: Service, over: TaskOverrides = {}): Task {
  return task({
    serviceName: s.metadata.name,
    spec: s.spec,
    serviceVersion: s.metadata.version ?? 0,
    ...(s.metadata.revision !== undefined ? { revision: s.metadata.revision } : {}),
    ...over,
  });
}
