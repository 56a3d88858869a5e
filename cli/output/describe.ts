// `describe`: a readable, sectioned view of one object (kubectl describe style). Labels at one
// indent level share one column; lists and tables sit indented under their heading.
import { formatCpu, formatMemory, requestsOf } from '../../common/quantity.js';
import type { HealthCheckSpec, RestartPolicySpec, Task, UpdateSpec, VolumeSpec } from '../../common/types.js';
import { configMode, configTarget, secretMode, secretTarget, volumeKind } from '../../common/workloads.js';
import type { NodeView, ServiceView } from '../api-client.js';
import { formatAge } from './age.js';
import { NONE, renderTable } from './table.js';
import {
  boundPorts,
  desiredOf,
  labelsCell,
  nodeName,
  specPorts,
  tasksView,
  type NodeNames,
  type TableView,
} from './views.js';

/**
 * Something that happened to the object, newest last. The API does not serve events yet; when it
 * does, the describe command fetches them and passes them here to fill the Events section.
 */
export interface DescribeEvent {
  time: string;
  type?: string;
  reason: string;
  message: string;
}

type Entry = { kind: 'field'; indent: number; label: string; value: string } | { kind: 'raw'; text: string };

const INDENT = '  ';

/** Collects labelled lines, then aligns the values of each indent level in one column. */
export class DescribeWriter {
  private readonly entries: Entry[] = [];

  field(label: string, value: string | number | undefined, indent = 0): this {
    const text = value === undefined || value === '' ? NONE : String(value);
    this.entries.push({ kind: 'field', indent, label, value: text });
    return this;
  }

  /** Only when there is something to say (optional spec parts stay out of the way). */
  optional(label: string, value: string | number | undefined, indent = 0): this {
    return value === undefined || value === '' ? this : this.field(label, value, indent);
  }

  /** A heading followed by indented lines, or `<none>` beside the heading. */
  list(label: string, lines: readonly string[], indent = 0): this {
    if (!lines.length) return this.field(label, NONE, indent);
    this.heading(label, indent);
    for (const l of lines) this.raw(`${INDENT.repeat(indent + 1)}${l}`);
    return this;
  }

  heading(label: string, indent = 0): this {
    this.raw(`${INDENT.repeat(indent)}${label}:`);
    return this;
  }

  table(label: string, view: TableView, indent = 0): this {
    if (!view.rows.length) return this.field(label, NONE, indent);
    this.heading(label, indent);
    for (const l of renderTable(view.headers, view.rows).split('\n')) this.raw(`${INDENT.repeat(indent + 1)}${l}`);
    return this;
  }

  raw(text: string): this {
    this.entries.push({ kind: 'raw', text });
    return this;
  }

  toString(): string {
    const widths = new Map<number, number>();
    for (const e of this.entries) {
      if (e.kind === 'field') widths.set(e.indent, Math.max(widths.get(e.indent) ?? 0, e.label.length + 1));
    }
    return this.entries
      .map((e) => {
        if (e.kind === 'raw') return e.text;
        const label = `${e.label}:`.padEnd((widths.get(e.indent) ?? 0) + 2);
        return `${INDENT.repeat(e.indent)}${label}${e.value}`.trimEnd();
      })
      .join('\n');
  }
}

function when(iso: string | undefined, nowMs: number): string | undefined {
  return iso ? `${iso} (${formatAge(iso, nowMs)} ago)` : undefined;
}

function seconds(n: number | undefined): string | undefined {
  return n === undefined ? undefined : `${n}s`;
}

function joinDefined(parts: (string | undefined)[]): string | undefined {
  const kept = parts.filter((p): p is string => !!p);
  return kept.length ? kept.join(', ') : undefined;
}

export function restartPolicyText(p: RestartPolicySpec | undefined): string | undefined {
  if (!p) return undefined;
  return joinDefined([
    p.condition && `condition=${p.condition}`,
    p.delaySeconds !== undefined ? `delay=${p.delaySeconds}s` : undefined,
    p.maxAttempts !== undefined ? `max attempts=${p.maxAttempts}` : undefined,
  ]);
}

export function updateText(u: UpdateSpec | undefined): string | undefined {
  if (!u) return undefined;
  return joinDefined([
    u.parallelism !== undefined ? `parallelism=${u.parallelism}` : undefined,
    u.delaySeconds !== undefined ? `delay=${u.delaySeconds}s` : undefined,
    u.monitorSeconds !== undefined ? `monitor=${u.monitorSeconds}s` : undefined,
    u.maxFailureRatio !== undefined ? `max failure ratio=${u.maxFailureRatio}` : undefined,
    u.failureAction && `failure action=${u.failureAction}`,
    u.order && `order=${u.order}`,
  ]);
}

export function healthCheckText(h: HealthCheckSpec | undefined): string | undefined {
  if (!h) return undefined;
  const probe = h.http
    ? `http GET :${h.http.port}${h.http.path ?? '/'}`
    : h.tcp
      ? `tcp :${h.tcp.port}`
      : h.exec
        ? `exec ${JSON.stringify(h.exec.command)}`
        : 'none';
  return joinDefined([
    probe,
    h.intervalSeconds !== undefined ? `every ${h.intervalSeconds}s` : undefined,
    h.timeoutSeconds !== undefined ? `timeout ${h.timeoutSeconds}s` : undefined,
    h.failureThreshold !== undefined ? `${h.failureThreshold} failures` : undefined,
    h.startPeriodSeconds !== undefined ? `start period ${h.startPeriodSeconds}s` : undefined,
  ]);
}

function kvLines(rec: Record<string, string> | undefined): string[] {
  return Object.entries(rec ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
}

function events(w: DescribeWriter, list: readonly DescribeEvent[] | undefined, nowMs: number): void {
  if (list === undefined) return;
  w.table('Events', {
    headers: ['TYPE', 'REASON', 'AGE', 'MESSAGE'],
    rows: list.map((e) => [e.type ?? 'Normal', e.reason, formatAge(e.time, nowMs), e.message]),
  });
}

export function describeService(
  svc: ServiceView,
  tasks: readonly Task[],
  names: NodeNames,
  nowMs: number,
  eventList?: readonly DescribeEvent[],
  /** Its virtual address and ready tasks' addresses, when the cluster gives services one. */
  endpoints?: { vip: string; addresses: readonly string[] },
  /** Where the service's named volumes live (`node-1 (volume data)`): the nodes it is pinned to. */
  pins?: readonly string[],
): string {
  const s = svc.spec;
  const w = new DescribeWriter()
    .field('Name', svc.metadata.name)
    .field('Labels', labelsCell(svc.metadata.labels))
    .field('Created', when(svc.metadata.createdAt, nowMs))
    .optional('Updated', when(svc.metadata.updatedAt, nowMs))
    .optional('Version', svc.metadata.version)
    .field('Mode', s.mode ?? 'replicated')
    .field(
      s.mode === 'job' ? 'Completions' : 'Replicas',
      s.mode === 'job'
        ? `${svc.status?.completed ?? 0}/${desiredOf(svc)} completed | ${s.parallelism ?? 1} at once | ${svc.status?.running ?? 0} running | job ${svc.status?.job ?? 'running'}`
        : `${desiredOf(svc)} desired | ${svc.status?.running ?? 0} running | ${svc.status?.tasks ?? 0} tasks`,
    )
    .optional('Status', svc.status?.message)
    .field('Image', s.image)
    .optional('Pull policy', s.pullPolicy)
    .optional('Command', s.command && JSON.stringify(s.command))
    .optional('Args', s.args && JSON.stringify(s.args))
    .list('Environment', kvLines(s.env))
    .field('Ports', specPorts(s.ports))
    .optional('Virtual address', endpoints?.vip)
    .optional('Endpoints', endpoints && (endpoints.addresses.join(', ') || NONE));
  w.heading('Resources')
    .field('CPU', s.resources?.cpu ?? NONE, 1)
    .field('Memory', s.resources?.memory ?? NONE, 1);
  w.heading('Placement')
    .field('Constraints', s.placement?.constraints?.join(', '), 1)
    .optional('Max per node', s.placement?.maxPerNode, 1)
    .optional('Pinned to', pins?.length ? pins.join(', ') : undefined, 1);
  if (s.volumes?.length) w.list('Volumes', s.volumes.map(volumeText));
  if (s.secrets?.length) w.list('Secrets', s.secrets.map((r) => `${r.source} -> ${secretTarget(r)} (mode 0${secretMode(r).toString(8)})`));
  if (s.configs?.length) w.list('Configs', s.configs.map((r) => `${r.source} -> ${configTarget(r)} (mode 0${configMode(r).toString(8)})`));
  w.optional('Restart policy', restartPolicyText(s.restartPolicy))
    .optional('Update', updateText(s.update))
    .optional('Health check', healthCheckText(s.healthCheck))
    .optional('Stop grace period', seconds(s.stopGracePeriodSeconds))
    .table('Tasks', tasksView(tasks, names, nowMs, false, { serviceColumn: false }));
  events(w, eventList, nowMs);
  return w.toString();
}

export function describeTask(
  task: Task,
  names: NodeNames,
  nowMs: number,
  eventList?: readonly DescribeEvent[],
): string {
  const st = task.status;
  const node = task.nodeId ? `${nodeName(task.nodeId, names)}${names.has(task.nodeId) ? ` (${task.nodeId})` : ''}` : NONE;
  const w = new DescribeWriter()
    .field('Name', task.name)
    .field('ID', task.id)
    .field('Service', task.serviceName)
    .field('Slot', task.slot === 0 ? `${NONE} (global)` : task.slot)
    .field('Service version', task.serviceVersion)
    .field('Node', node)
    .field('Desired state', task.desiredState)
    .field('State', `${st.state} since ${when(st.timestamp, nowMs) ?? '<unknown>'}`)
    .optional('Reason', st.reason)
    .field('Message', st.message)
    .field('Image', task.spec.image)
    .field('Container', st.containerId)
    .field('Ports', boundPorts(st))
    .optional('Address', st.address)
    .optional('Exit code', st.exitCode)
    .field('Created', when(task.createdAt, nowMs));
  const output = st.lastOutput?.replace(/\s+$/, '');
  if (output) w.list('Last output', output.split('\n'));
  events(w, eventList, nowMs);
  return w.toString();
}

export function describeNode(
  node: NodeView,
  tasks: readonly Task[],
  nowMs: number,
  eventList?: readonly DescribeEvent[],
): string {
  const live = tasks.filter((t) => t.desiredState === 'running');
  const used = live.reduce(
    (acc, t) => {
      const r = requestsOf(t.spec.resources);
      return { cpu: acc.cpu + r.cpu, memory: acc.memory + r.memory };
    },
    { cpu: 0, memory: 0 },
  );
  const pct = (part: number, whole: number) => (whole > 0 ? ` (${Math.round((part / whole) * 100)}%)` : '');
  const w = new DescribeWriter()
    .field('Name', node.name)
    .field('ID', node.id)
    .field('Status', `${node.status.state}${node.status.message ? `: ${node.status.message}` : ''}`)
    .optional('Since', when(node.status.timestamp, nowMs))
    .field('Address', node.status.address)
    .field('Availability', node.availability)
    .field('Runtime', node.runtime)
    .list('Labels', kvLines(node.labels))
    .field('Created', when(node.createdAt, nowMs));
  w.heading('Capacity').field('CPU', formatCpu(node.capacity.cpu), 1).field('Memory', formatMemory(node.capacity.memory), 1);
  w.heading('Allocatable')
    .field('CPU', formatCpu(node.allocatable.cpu), 1)
    .field('Memory', formatMemory(node.allocatable.memory), 1);
  w.heading('Requested by tasks')
    .field('CPU', `${formatCpu(used.cpu)}${pct(used.cpu, node.allocatable.cpu)}`, 1)
    .field('Memory', `${formatMemory(used.memory)}${pct(used.memory, node.allocatable.memory)}`, 1);
  w.table('Tasks', tasksView(tasks, new Map(), nowMs, false, { nodeColumn: false }));
  events(w, eventList, nowMs);
  return w.toString();
}

function volumeText(v: VolumeSpec): string {
  const ro = v.readOnly ? ' (read-only)' : '';
  switch (volumeKind(v)) {
    case 'bind':
      return `${v.hostPath} -> ${v.target}${ro} (bind)`;
    case 'tmpfs':
      return `tmpfs -> ${v.target}${v.sizeBytes ? ` (${v.sizeBytes} bytes)` : ''}`;
    default:
      return `${v.name} -> ${v.target}${ro} (volume)`;
  }
}
