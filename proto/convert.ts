// Protobuf <-> model conversions, used by both ends of the dispatcher protocol. Protobuf types
// stop here: the dispatcher and the agent work with common/types.ts only.
//
// Conventions: an enum's UNSPECIFIED value means the field is absent; a proto3 `optional`
// scalar is absent when unset; lists that must stay distinct from "absent" (command, args,
// constraints) travel in a StringList wrapper, env in an EnvMap wrapper; other empty lists
// (ports, host ports) mean the same as absent and come back absent.
import { BerthError } from '../common/errors.js';
import {
  DesiredState,
  RestartCondition,
  ServiceMode,
  TASK_STATE_ORDER,
  TaskHealth,
  type HealthCheckSpec,
  type NodeNetwork,
  type ServiceEndpoints,
  type PlacementSpec,
  type PortSpec,
  type ResourceSpec,
  type RestartPolicySpec,
  type SecretRef,
  type ServiceSpec,
  type Task,
  type VolumeSpec,
  type TaskState,
  type TaskStatus,
  type UpdateSpec,
} from '../common/types.js';
import type { HealthCheckSpec as PbHealthCheckSpec, HealthCheckSpec__Output as PbHealthCheckSpecOut } from './generated/berth/v1/HealthCheckSpec.js';
import type { ContainerOptions as PbContainerOptions, ContainerOptions__Output as PbContainerOptionsOut } from './generated/berth/v1/ContainerOptions.js';
import type { PortSpec as PbPortSpec, PortSpec__Output as PbPortSpecOut } from './generated/berth/v1/PortSpec.js';
import type { ServiceSpec as PbServiceSpec, ServiceSpec__Output as PbServiceSpecOut } from './generated/berth/v1/ServiceSpec.js';
import type { Task as PbTask, Task__Output as PbTaskOut } from './generated/berth/v1/Task.js';
import type { TaskStatus as PbTaskStatus, TaskStatus__Output as PbTaskStatusOut } from './generated/berth/v1/TaskStatus.js';
import type { TaskStatusReport as PbReport, TaskStatusReport__Output as PbReportOut } from './generated/berth/v1/TaskStatusReport.js';
import type { TaskStatusReport } from '../common/task-status.js';
import type { Endpoints as PbEndpoints, Endpoints__Output as PbEndpointsOut } from './generated/berth/v1/Endpoints.js';
import type { NodeNetwork as PbNodeNetwork, NodeNetwork__Output as PbNodeNetworkOut } from './generated/berth/v1/NodeNetwork.js';
import type { TaskState as PbTaskState } from './generated/berth/v1/TaskState.js';
import type { DesiredState as PbDesiredState } from './generated/berth/v1/DesiredState.js';
import type { Protocol as PbProtocol } from './generated/berth/v1/Protocol.js';
import type { ServiceMode as PbServiceMode } from './generated/berth/v1/ServiceMode.js';
import type { RestartCondition as PbRestartCondition } from './generated/berth/v1/RestartCondition.js';
import type { FailureAction as PbFailureAction } from './generated/berth/v1/FailureAction.js';
import type { UpdateOrder as PbUpdateOrder } from './generated/berth/v1/UpdateOrder.js';
import type { PullPolicy as PbPullPolicy } from './generated/berth/v1/PullPolicy.js';
import type { VolumeSpec as PbVolumeSpec, VolumeSpec__Output as PbVolumeSpecOut } from './generated/berth/v1/VolumeSpec.js';
import type { SecretRef as PbSecretRef, SecretRef__Output as PbSecretRefOut } from './generated/berth/v1/SecretRef.js';
import { secretMode } from '../common/workloads.js';
import type { TaskHealth as PbTaskHealth } from './generated/berth/v1/TaskHealth.js';
import type { UsageReport as PbUsageReport, UsageReport__Output as PbUsageReportOut } from './generated/berth/v1/UsageReport.js';
import type { UsageReport } from '../common/usage.js';

/** A message from the other end that cannot be turned into our model. */
export class ProtocolError extends BerthError {
  override readonly code: string = 'PROTOCOL';
  constructor(readonly field: string, readonly reason: string) {
    super(`invalid message: ${field}: ${reason}`);
  }
}

// ---------- enums: `on-failure` <-> `RESTART_CONDITION_ON_FAILURE` ----------

const PREFIX = {
  taskState: 'TASK_STATE',
  desiredState: 'DESIRED_STATE',
  protocol: 'PROTOCOL',
  mode: 'SERVICE_MODE',
  restart: 'RESTART_CONDITION',
  failureAction: 'FAILURE_ACTION',
  order: 'UPDATE_ORDER',
  pullPolicy: 'PULL_POLICY',
  health: 'TASK_HEALTH',
} as const;

const PROTOCOLS = ['tcp', 'udp'] as const;
const FAILURE_ACTIONS = ['pause', 'rollback', 'continue'] as const;
const UPDATE_ORDERS = ['stop-first', 'start-first'] as const;
const PULL_POLICIES = ['always', 'if-not-present', 'never'] as const;
const HEALTHS = Object.values(TaskHealth);

function toEnum<N extends string | number>(prefix: string, value: string | undefined): N {
  const suffix = value === undefined ? 'UNSPECIFIED' : value.toUpperCase().replace(/-/g, '_');
  return `${prefix}_${suffix}` as N;
}

/** Undefined for UNSPECIFIED; a ProtocolError for a value this side does not know. */
function fromEnum<T extends string>(prefix: string, name: string | number, allowed: readonly T[], field: string): T | undefined {
  const text = String(name);
  if (text === `${prefix}_UNSPECIFIED` || text === '0') return undefined;
  const value = text.slice(prefix.length + 1).toLowerCase().replace(/_/g, '-');
  if (!text.startsWith(`${prefix}_`) || !(allowed as readonly string[]).includes(value)) {
    throw new ProtocolError(field, `unknown value ${text}`);
  }
  return value as T;
}

/** Drops undefined-valued keys so a converted object equals the original. */
function compact<T extends object>(obj: T): T {
  for (const k of Object.keys(obj) as (keyof T)[]) if (obj[k] === undefined) delete obj[k];
  return obj;
}

const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list && list.length > 0 ? list : undefined);

// ---------- task status ----------

export function statusToProto(s: TaskStatus): PbTaskStatus {
  return {
    state: toEnum<PbTaskState>(PREFIX.taskState, s.state),
    timestamp: s.timestamp,
    reason: s.reason,
    message: s.message,
    containerId: s.containerId,
    hostPorts: (s.hostPorts ?? []).map((h) => ({
      containerPort: h.containerPort,
      hostPort: h.hostPort,
      protocol: toEnum<PbProtocol>(PREFIX.protocol, h.protocol),
    })),
    exitCode: s.exitCode,
    lastOutput: s.lastOutput,
    health: toEnum<PbTaskHealth>(PREFIX.health, s.health),
    lastProbe: s.lastProbe ? { time: s.lastProbe.time, ok: s.lastProbe.ok, message: s.lastProbe.message } : null,
    address: s.address,
  };
}

export function statusFromProto(p: PbTaskStatusOut | null, field = 'status'): TaskStatus {
  if (!p) throw new ProtocolError(field, 'missing');
  const state = fromEnum<TaskState>(PREFIX.taskState, p.state, TASK_STATE_ORDER, `${field}.state`);
  if (!state) throw new ProtocolError(`${field}.state`, 'missing');
  const hostPorts = nonEmpty(
    p.hostPorts.map((h) => ({
      containerPort: h.containerPort,
      hostPort: h.hostPort,
      protocol: fromEnum(PREFIX.protocol, h.protocol, PROTOCOLS, `${field}.hostPorts.protocol`) ?? 'tcp',
    })),
  );
  return compact({
    state,
    timestamp: p.timestamp,
    reason: p.reason,
    message: p.message,
    containerId: p.containerId,
    hostPorts,
    exitCode: p.exitCode,
    lastOutput: p.lastOutput,
    health: fromEnum(PREFIX.health, p.health, HEALTHS, `${field}.health`),
    lastProbe: p.lastProbe ? { time: p.lastProbe.time, ok: p.lastProbe.ok, message: p.lastProbe.message } : undefined,
    address: p.address,
  });
}

export function reportToProto(r: TaskStatusReport): PbReport {
  return { taskId: r.taskId, status: statusToProto(r.status) };
}

export function reportFromProto(p: PbReportOut): TaskStatusReport {
  if (!p.taskId) throw new ProtocolError('taskId', 'missing');
  return { taskId: p.taskId, status: statusFromProto(p.status) };
}

// ---------- service spec ----------

function portToProto(p: PortSpec): PbPortSpec {
  return {
    containerPort: p.containerPort,
    hostPort: p.hostPort,
    protocol: toEnum<PbProtocol>(PREFIX.protocol, p.protocol),
    hostIp: p.hostIp,
    publishedPort: p.publishedPort,
    mode: p.mode,
    proxyProtocol: p.proxyProtocol,
  };
}

function portFromProto(p: PbPortSpecOut): PortSpec {
  return compact({
    containerPort: p.containerPort,
    hostPort: p.hostPort,
    protocol: fromEnum(PREFIX.protocol, p.protocol, PROTOCOLS, 'spec.ports.protocol'),
    hostIp: p.hostIp,
    publishedPort: p.publishedPort,
    mode: p.mode === 'ingress' || p.mode === 'host' ? p.mode : undefined,
    proxyProtocol: p.proxyProtocol,
  });
}

/** The container options of a spec, or null when it sets none. */
function containerToProto(s: ServiceSpec): PbContainerOptions | null {
  const c: PbContainerOptions = {
    user: s.user,
    workingDir: s.workingDir,
    hostname: s.hostname,
    init: s.init,
    tty: s.tty,
    readOnly: s.readOnly,
    capAdd: s.capAdd ? { values: s.capAdd } : null,
    capDrop: s.capDrop ? { values: s.capDrop } : null,
    sysctls: s.sysctls ?? {},
    ulimits: (s.ulimits ?? []).map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })),
    stopSignal: s.stopSignal,
    logging: s.logging ? { driver: s.logging.driver, options: s.logging.options ?? {} } : null,
    labels: s.containerLabels ?? {},
    dnsSearch: s.dnsSearch ? { values: s.dnsSearch } : null,
  };
  const set = Object.values(c as Record<string, unknown>).some(
    (v) => v !== undefined && v !== null && !(Array.isArray(v) && !v.length) && !(typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length),
  );
  return set ? c : null;
}

function containerFromProto(c: PbContainerOptionsOut | null): Partial<ServiceSpec> {
  if (!c) return {};
  const map = (m: Record<string, string> | undefined) => (m && Object.keys(m).length ? { ...m } : undefined);
  return compact({
    user: c.user,
    workingDir: c.workingDir,
    hostname: c.hostname,
    init: c.init,
    tty: c.tty,
    readOnly: c.readOnly,
    capAdd: c.capAdd?.values,
    capDrop: c.capDrop?.values,
    sysctls: map(c.sysctls),
    ulimits: nonEmpty(c.ulimits.map((u) => ({ name: u.name, soft: Number(u.soft), hard: Number(u.hard) }))),
    stopSignal: c.stopSignal,
    logging: c.logging ? compact({ driver: c.logging.driver, options: map(c.logging.options) }) : undefined,
    containerLabels: map(c.labels),
    dnsSearch: c.dnsSearch?.values,
  });
}

function healthToProto(h: HealthCheckSpec): PbHealthCheckSpec {
  return {
    http: h.http ? { path: h.http.path, port: h.http.port } : null,
    tcp: h.tcp ? { port: h.tcp.port } : null,
    exec: h.exec ? { command: h.exec.command } : null,
    intervalSeconds: h.intervalSeconds,
    timeoutSeconds: h.timeoutSeconds,
    failureThreshold: h.failureThreshold,
    startPeriodSeconds: h.startPeriodSeconds,
  };
}

function healthFromProto(h: PbHealthCheckSpecOut): HealthCheckSpec {
  return compact({
    http: h.http ? compact({ path: h.http.path, port: h.http.port }) : undefined,
    tcp: h.tcp ? { port: h.tcp.port } : undefined,
    exec: h.exec ? { command: h.exec.command } : undefined,
    intervalSeconds: h.intervalSeconds,
    timeoutSeconds: h.timeoutSeconds,
    failureThreshold: h.failureThreshold,
    startPeriodSeconds: h.startPeriodSeconds,
  });
}

function volumeToProto(v: VolumeSpec): PbVolumeSpec {
  return { name: v.name, hostPath: v.hostPath, tmpfs: v.tmpfs ?? false, target: v.target, readOnly: v.readOnly ?? false, sizeBytes: v.sizeBytes };
}

function volumeFromProto(v: PbVolumeSpecOut): VolumeSpec {
  return compact({
    name: v.name,
    hostPath: v.hostPath,
    tmpfs: v.tmpfs || undefined,
    target: v.target,
    readOnly: v.readOnly || undefined,
    sizeBytes: v.sizeBytes,
  });
}

/** The mode travels as a number (a manifest may write it as octal digits in a string). */
function secretRefToProto(r: SecretRef): PbSecretRef {
  return { source: r.source, target: r.target, mode: r.mode === undefined ? undefined : secretMode(r) };
}

function secretRefFromProto(r: PbSecretRefOut): SecretRef {
  return compact({ source: r.source, target: r.target, mode: r.mode });
}

export function specToProto(s: ServiceSpec): PbServiceSpec {
  const r = s.restartPolicy;
  const u = s.update;
  return {
    mode: toEnum<PbServiceMode>(PREFIX.mode, s.mode),
    replicas: s.replicas,
    image: s.image,
    command: s.command ? { values: s.command } : null,
    args: s.args ? { values: s.args } : null,
    env: s.env ? { values: s.env } : null,
    ports: (s.ports ?? []).map(portToProto),
    resources: s.resources ? { cpu: s.resources.cpu, memory: s.resources.memory } : null,
    healthCheck: s.healthCheck ? healthToProto(s.healthCheck) : null,
    restartPolicy: r
      ? { condition: toEnum<PbRestartCondition>(PREFIX.restart, r.condition), delaySeconds: r.delaySeconds, maxAttempts: r.maxAttempts }
      : null,
    placement: s.placement
      ? {
          constraints: s.placement.constraints ? { values: s.placement.constraints } : null,
          maxPerNode: s.placement.maxPerNode,
        }
      : null,
    update: u
      ? {
          parallelism: u.parallelism,
          delaySeconds: u.delaySeconds,
          monitorSeconds: u.monitorSeconds,
          maxFailureRatio: u.maxFailureRatio,
          failureAction: toEnum<PbFailureAction>(PREFIX.failureAction, u.failureAction),
          order: toEnum<PbUpdateOrder>(PREFIX.order, u.order),
        }
      : null,
    stopGracePeriodSeconds: s.stopGracePeriodSeconds,
    pullPolicy: toEnum<PbPullPolicy>(PREFIX.pullPolicy, s.pullPolicy),
    volumes: (s.volumes ?? []).map(volumeToProto),
    secrets: (s.secrets ?? []).map(secretRefToProto),
    configs: (s.configs ?? []).map(secretRefToProto),
    networks: s.networks ?? [],
    container: containerToProto(s),
  };
}

export function specFromProto(p: PbServiceSpecOut | null): ServiceSpec {
  if (!p) throw new ProtocolError('spec', 'missing');
  if (!p.image) throw new ProtocolError('spec.image', 'missing');
  const r = p.restartPolicy;
  const u = p.update;
  const restartPolicy: RestartPolicySpec | undefined = r
    ? compact({
        condition: fromEnum(PREFIX.restart, r.condition, Object.values(RestartCondition), 'spec.restartPolicy.condition'),
        delaySeconds: r.delaySeconds,
        maxAttempts: r.maxAttempts,
      })
    : undefined;
  const placement: PlacementSpec | undefined = p.placement
    ? compact({ constraints: p.placement.constraints?.values, maxPerNode: p.placement.maxPerNode })
    : undefined;
  const update: UpdateSpec | undefined = u
    ? compact({
        parallelism: u.parallelism,
        delaySeconds: u.delaySeconds,
        monitorSeconds: u.monitorSeconds,
        maxFailureRatio: u.maxFailureRatio,
        failureAction: fromEnum(PREFIX.failureAction, u.failureAction, FAILURE_ACTIONS, 'spec.update.failureAction'),
        order: fromEnum(PREFIX.order, u.order, UPDATE_ORDERS, 'spec.update.order'),
      })
    : undefined;
  const resources: ResourceSpec | undefined = p.resources ? compact({ cpu: p.resources.cpu, memory: p.resources.memory }) : undefined;
  return compact({
    mode: fromEnum(PREFIX.mode, p.mode, Object.values(ServiceMode), 'spec.mode'),
    replicas: p.replicas,
    image: p.image,
    command: p.command?.values,
    args: p.args?.values,
    env: p.env ? { ...p.env.values } : undefined,
    ports: nonEmpty(p.ports.map(portFromProto)),
    resources,
    healthCheck: p.healthCheck ? healthFromProto(p.healthCheck) : undefined,
    restartPolicy,
    placement,
    update,
    stopGracePeriodSeconds: p.stopGracePeriodSeconds,
    pullPolicy: fromEnum(PREFIX.pullPolicy, p.pullPolicy, PULL_POLICIES, 'spec.pullPolicy'),
    volumes: nonEmpty((p.volumes ?? []).map(volumeFromProto)),
    secrets: nonEmpty((p.secrets ?? []).map(secretRefFromProto)),
    configs: nonEmpty((p.configs ?? []).map(secretRefFromProto)),
    networks: nonEmpty([...(p.networks ?? [])]),
    ...containerFromProto(p.container),
  });
}

// ---------- task ----------

export function taskToProto(t: Task): PbTask {
  return {
    id: t.id,
    name: t.name,
    serviceName: t.serviceName,
    slot: t.slot,
    serviceVersion: t.serviceVersion,
    spec: specToProto(t.spec),
    desiredState: toEnum<PbDesiredState>(PREFIX.desiredState, t.desiredState),
    nodeId: t.nodeId,
    status: statusToProto(t.status),
    createdAt: t.createdAt,
    version: t.version,
  };
}

export function taskFromProto(p: PbTaskOut): Task {
  if (!p.id) throw new ProtocolError('task.id', 'missing');
  const desiredState = fromEnum(PREFIX.desiredState, p.desiredState, Object.values(DesiredState), 'task.desiredState');
  if (!desiredState) throw new ProtocolError('task.desiredState', 'missing');
  return compact({
    id: p.id,
    name: p.name,
    serviceName: p.serviceName,
    slot: p.slot,
    serviceVersion: p.serviceVersion,
    spec: specFromProto(p.spec),
    desiredState,
    nodeId: p.nodeId,
    status: statusFromProto(p.status, 'task.status'),
    createdAt: p.createdAt,
    version: p.version,
  });
}

export function networkToProto(n: NodeNetwork): PbNodeNetwork {
  return { subnet: n.subnet, clusterRange: n.clusterRange, routes: n.routes.map((r) => ({ ...r })) };
}

export function networkFromProto(p: PbNodeNetworkOut): NodeNetwork {
  return { subnet: p.subnet, clusterRange: p.clusterRange, routes: p.routes.map((r) => ({ nodeId: r.nodeId, address: r.address, subnet: r.subnet })) };
}

export function endpointsToProto(list: ServiceEndpoints[]): PbEndpoints {
  return { services: list.map((e) => ({ service: e.service, vip: e.vip, addresses: [...e.addresses], ingress: (e.ingress ?? []).map((p) => ({ ...p })), networks: e.networks ?? [], members: e.members ?? [] })) };
}

export function endpointsFromProto(p: PbEndpointsOut): ServiceEndpoints[] {
  return p.services.map((e) => {
    const ingress = e.ingress.map((i) => ({ publishedPort: i.publishedPort, targetPort: i.targetPort, protocol: i.protocol === 'udp' ? ('udp' as const) : ('tcp' as const), proxyProtocol: i.proxyProtocol }));
    return {
      service: e.service,
      vip: e.vip,
      addresses: [...e.addresses],
      ...(ingress.length ? { ingress } : {}),
      ...(e.networks.length ? { networks: [...e.networks] } : {}),
      ...(e.members.length ? { members: [...e.members] } : {}),
    };
  });
}

export function usageToProto(u: UsageReport): PbUsageReport {
  return {
    allocatable: { cpuMillicores: u.allocatable.cpu, memoryBytes: u.allocatable.memory },
    containers: u.containers.map((c) => ({ taskId: c.taskId, cpuMillicores: Math.max(0, Math.round(c.cpu)), memoryBytes: Math.max(0, Math.round(c.memory)) })),
    sampledAtMs: u.sampledAtMs,
  };
}

/** Negative or absurd figures from a confused agent are clamped to 0, never shown. */
export function usageFromProto(p: PbUsageReportOut): UsageReport {
  const n = (v: number | string | undefined): number => {
    const x = Number(v ?? 0);
    return Number.isFinite(x) && x > 0 ? x : 0;
  };
  return {
    allocatable: { cpu: n(p.allocatable?.cpuMillicores), memory: n(p.allocatable?.memoryBytes) },
    containers: p.containers.filter((c) => c.taskId).map((c) => ({ taskId: c.taskId, cpu: n(c.cpuMillicores), memory: n(c.memoryBytes) })),
    sampledAtMs: n(p.sampledAtMs) || Date.now(),
  };
}
