// What `get` shows of each kind: table headers and one row per object. Pure functions of the
// API objects and the clock, so every column is unit-tested with plain data.
import { formatCpu, formatMemory } from '../../common/quantity.js';
import type { PortSpec, Task, TaskStatus } from '../../common/types.js';
import type { NodeView, ServiceView } from '../api-client.js';
import { formatAge } from './age.js';
import { NONE } from './table.js';

export interface TableView {
  headers: string[];
  rows: string[][];
}

export function desiredOf(svc: ServiceView): number {
  if (svc.status?.desired !== undefined) return svc.status.desired;
  if (svc.spec.mode === 'global') return svc.status?.tasks ?? 0;
  if (svc.spec.mode === 'job') return svc.spec.completions ?? 1;
  return svc.spec.replicas ?? 1;
}

/** Running of desired; for a job, its completions: `2/3 completed`, `1/3 failed`. */
export function replicasCell(svc: ServiceView): string {
  if (svc.spec.mode === 'job') {
    const state = svc.status?.job;
    return `${svc.status?.completed ?? 0}/${desiredOf(svc)} ${state === 'failed' ? 'failed' : 'completed'}`;
  }
  return `${svc.status?.running ?? 0}/${desiredOf(svc)}`;
}

export function specPorts(ports: readonly PortSpec[] | undefined): string {
  if (!ports?.length) return NONE;
  return ports
    .map((p) => {
      const published = p.hostPort || p.publishedPort;
      // An ingress port (the routing mesh) is marked *: open on every node.
      const mesh = p.publishedPort !== undefined && p.mode !== 'host' ? '*' : '';
      return `${published ? `${mesh}${published}->` : ''}${p.containerPort}/${p.protocol ?? 'tcp'}${p.proxyProtocol ? '+proxy' : ''}`;
    })
    .join(',');
}

export function boundPorts(status: TaskStatus): string {
  if (!status.hostPorts?.length) return NONE;
  return status.hostPorts.map((p) => `${p.hostPort}->${p.containerPort}/${p.protocol}`).join(',');
}

export function shortContainerId(id: string | undefined): string {
  return id ? id.slice(0, 12) : NONE;
}

export function labelsCell(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : NONE;
}

export function servicesView(items: readonly ServiceView[], nowMs: number, wide: boolean): TableView {
  // READY (tasks passing their health check) only from servers that report it.
  const withReady = items.some((s) => s.status?.ready !== undefined);
  // UP-TO-DATE and AVAILABLE (rolling updates) likewise.
  const withRollout = items.some((s) => s.status?.upToDate !== undefined);
  const headers = ['NAME', 'MODE', 'REPLICAS', ...(withReady ? ['READY'] : []), ...(withRollout ? ['UP-TO-DATE', 'AVAILABLE'] : []), 'IMAGE', 'AGE', ...(wide ? ['PORTS'] : [])];
  const rows = [...items]
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((s) => [
      s.metadata.name,
      s.spec.mode ?? 'replicated',
      replicasCell(s),
      ...(withReady ? [`${s.status?.ready ?? 0}/${desiredOf(s)}`] : []),
      ...(withRollout ? [String(s.status?.upToDate ?? 0), String(s.status?.available ?? 0)] : []),
      s.spec.image,
      formatAge(s.metadata.createdAt, nowMs),
      ...(wide ? [specPorts(s.spec.ports)] : []),
    ]);
  return { headers, rows };
}

/** Node ids are opaque: show names when the node is known, the id otherwise. */
export type NodeNames = ReadonlyMap<string, string>;

export function nodeName(nodeId: string | undefined, names: NodeNames): string {
  if (!nodeId) return NONE;
  return names.get(nodeId) ?? nodeId;
}

/** Slot order within a service (1, 2, ..., 10 rather than 1, 10, 2), newest first per slot. */
export function sortTasks(tasks: readonly Task[]): Task[] {
  return [...tasks].sort(
    (a, b) =>
      a.serviceName.localeCompare(b.serviceName) ||
      a.slot - b.slot ||
      (a.nodeId ?? '').localeCompare(b.nodeId ?? '') ||
      b.createdAt.localeCompare(a.createdAt),
  );
}

export function tasksView(
  items: readonly Task[],
  names: NodeNames,
  nowMs: number,
  wide: boolean,
  opts: { serviceColumn?: boolean; nodeColumn?: boolean } = {},
): TableView {
  const withService = opts.serviceColumn ?? true;
  const withNode = opts.nodeColumn ?? true;
  const headers = [
    'NAME',
    ...(withService ? ['SERVICE'] : []),
    ...(withNode ? ['NODE'] : []),
    'DESIRED',
    'STATE',
    'RESTARTS',
    'AGE',
    'MESSAGE',
    ...(wide ? ['PORTS', 'CONTAINER'] : []),
  ];
  const rows = sortTasks(items).map((t) => [
    t.name,
    ...(withService ? [t.serviceName] : []),
    ...(withNode ? [nodeName(t.nodeId, names)] : []),
    t.desiredState,
    t.status.state,
    String(t.restarts ?? 0),
    formatAge(t.createdAt, nowMs),
    t.status.message ?? '',
    ...(wide ? [boundPorts(t.status), shortContainerId(t.status.containerId)] : []),
  ]);
  return { headers, rows };
}

export function nodesView(items: readonly NodeView[], nowMs: number, wide: boolean): TableView {
  const headers = [
    'NAME',
    'STATUS',
    'AVAILABILITY',
    'CPU',
    'MEMORY',
    'TASKS',
    'LABELS',
    'AGE',
    ...(wide ? ['ID', 'ADDRESS', 'RUNTIME', 'VERSION'] : []),
  ];
  const rows = [...items]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => [
      n.name,
      n.status.state,
      n.availability,
      formatCpu(n.allocatable.cpu),
      formatMemory(n.allocatable.memory),
      n.tasks === undefined ? '?' : String(n.tasks),
      labelsCell(n.labels),
      formatAge(n.createdAt, nowMs),
      ...(wide ? [n.id, n.status.address ?? NONE, n.runtime, n.agentVersion ?? NONE] : []),
    ]);
  return { headers, rows };
}
