// The objects of the Berth model, shared by the control plane, the agent and the CLI.
// One word per idea: Service, Task, Node, Event. A spec belongs to the user and is never
// changed by the system; status belongs to the system.

export const API_VERSION = 'berth/v1';

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  /** etcd mod_revision of the stored object; send it back to make an update conditional. */
  version?: number;
  createdAt?: string;
  updatedAt?: string;
  /** Services: the revision (`revisions/<service>/<n>`) the spec is; set by the server. */
  revision?: number;
  /** Services: time of the last `rollout restart`; tasks started before it are replaced. */
  restartedAt?: string;
}

// ---------- Service ----------

export const ServiceMode = { Replicated: 'replicated', Global: 'global', Job: 'job' } as const;
export type ServiceMode = (typeof ServiceMode)[keyof typeof ServiceMode];

export interface PortSpec {
  containerPort: number;
  /** 0 (or absent) = any free host port chosen by the runtime. */
  hostPort?: number;
  protocol?: 'tcp' | 'udp';
  /** Host address to bind the published port to (default: every address). */
  hostIp?: string;
  /** The port the service answers on: on every node (`mode: ingress`) or on its task's node (`host`). */
  publishedPort?: number;
  /** `ingress` (the default with publishedPort): the routing mesh; `host`: the task's own node, as hostPort. */
  mode?: 'ingress' | 'host';
  /** Ingress only: the backend gets a PROXY protocol v2 header with the client's address (user-space forwarder). */
  proxyProtocol?: boolean;
}

export interface ResourceSpec {
  /** CPU like `250m` or `0.5` or `2`. */
  cpu?: string;
  /** Memory like `64Mi`, `1G`, `512000`. */
  memory?: string;
}

export interface HealthCheckSpec {
  http?: { path?: string; port: number };
  tcp?: { port: number };
  exec?: { command: string[] };
  intervalSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  startPeriodSeconds?: number;
}

export const RestartCondition = { Any: 'any', OnFailure: 'on-failure', None: 'none' } as const;
export type RestartCondition = (typeof RestartCondition)[keyof typeof RestartCondition];

export interface RestartPolicySpec {
  condition?: RestartCondition;
  delaySeconds?: number;
  maxAttempts?: number;
}

export interface PlacementSpec {
  constraints?: string[];
  maxPerNode?: number;
}

export interface UpdateSpec {
  parallelism?: number;
  delaySeconds?: number;
  monitorSeconds?: number;
  maxFailureRatio?: number;
  failureAction?: 'pause' | 'rollback' | 'continue';
  order?: 'stop-first' | 'start-first';
  /** A new task not ready this long after its creation counts as failed (default max(60, 10 x monitorSeconds)). */
  progressDeadlineSeconds?: number;
}

/**
 * One mount of a task's container: a named volume (`name`, a Docker volume on the node, kept
 * when the task ends), a bind mount (`hostPath`, only under the node's allow-list) or a tmpfs.
 */
export interface VolumeSpec {
  name?: string;
  hostPath?: string;
  tmpfs?: boolean;
  target: string;
  readOnly?: boolean;
  /** tmpfs only: its size limit in bytes. */
  sizeBytes?: number;
}

/** A secret a task reads as a file (compose-like): `/run/secrets/<source>` unless `target` says. */
export interface SecretRef {
  source: string;
  target?: string;
  /** File mode: octal digits in a string (`"0440"`) or a number (`0o440`); default 0400. */
  mode?: number | string;
}

/** A config a task reads as a file: `/<source>` unless `target` says; mode default 0444. */
export type ConfigRef = SecretRef;

export interface ServiceSpec {
  mode?: ServiceMode;
  replicas?: number;
  /** Jobs: how many tasks must complete (exit 0) for the job to be complete (default 1). */
  completions?: number;
  /** Jobs: how many tasks run at once (default 1). */
  parallelism?: number;
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  ports?: PortSpec[];
  resources?: ResourceSpec;
  healthCheck?: HealthCheckSpec;
  restartPolicy?: RestartPolicySpec;
  placement?: PlacementSpec;
  update?: UpdateSpec;
  stopGracePeriodSeconds?: number;
  pullPolicy?: 'always' | 'if-not-present' | 'never';
  /** How many revisions of the spec to keep for `rollout undo` (default 10). */
  revisionHistoryLimit?: number;
  volumes?: VolumeSpec[];
  secrets?: SecretRef[];
  /** Configs (not secret): mounted read-only at `target`, default `/<source>`, mode default 0444. */
  configs?: ConfigRef[];
  /** The networks the service is on (`berth network create`); none: the default network. */
  networks?: string[];
  /** The container's process runs as this user (`name`, `uid`, `uid:gid`). */
  user?: string;
  workingDir?: string;
  hostname?: string;
  /** Run an init process as PID 1 that reaps zombies and forwards signals. */
  init?: boolean;
  tty?: boolean;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  sysctls?: Record<string, string>;
  ulimits?: UlimitSpec[];
  /** Signal sent to stop the container (default SIGTERM), then SIGKILL after the grace period. */
  stopSignal?: string;
  /** The engine's log driver for the containers (default: the engine's own). */
  logging?: { driver: string; options?: Record<string, string> };
  /** Labels set on the containers (free-form, unlike metadata.labels). */
  containerLabels?: Record<string, string>;
  /** Search domains of the containers' resolver (`stack deploy` sets the stack's name: `db` finds `db.<stack>`). */
  dnsSearch?: string[];
  /** Services this one starts after (recorded for `stack deploy`; see docs/stacks.md). */
  dependsOn?: DependsOnSpec[];
}

export interface UlimitSpec {
  name: string;
  soft: number;
  hard: number;
}

export interface DependsOnSpec {
  service: string;
  condition?: 'started' | 'healthy' | 'completed';
}

export interface ServiceStatus {
  /** Replicas wanted (replicated) or live tasks on eligible nodes (global). */
  desired?: number;
  /** Live tasks (desired running, not ended). */
  tasks?: number;
  running?: number;
  /** Live running tasks that are healthy, or have no health check. */
  ready?: number;
  /** Live tasks running the current spec (revision). */
  upToDate?: number;
  /** Ready tasks, of any revision. */
  available?: number;
  /** The latest rolling update, if any. */
  update?: { state: string; message: string; revision: number };
  /** Jobs: tasks of the current run that completed (one per completion). */
  completed?: number;
  /** Jobs: running, complete (every completion done) or failed (a task failed past its attempts). */
  job?: JobState;
  message?: string;
}

export const JobState = { Running: 'running', Complete: 'complete', Failed: 'failed' } as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

export interface Service {
  apiVersion: typeof API_VERSION;
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: ServiceStatus;
}

// ---------- Task ----------

// Observed task state and its moves: see task-states.ts.
export { isTerminal, TASK_STATE_ORDER, TaskState, taskStateRank } from './task-states.js';
import type { TaskState } from './task-states.js';

export const DesiredState = { Running: 'running', Shutdown: 'shutdown', Remove: 'remove' } as const;
export type DesiredState = (typeof DesiredState)[keyof typeof DesiredState];

export interface TaskStatus {
  state: TaskState;
  /** When the state last changed (ISO time). */
  timestamp: string;
  /** Short machine-readable reason, e.g. `Unschedulable`, `ContainerExited`. */
  reason?: string;
  /** Human-readable detail: why a task is pending, what an exit looked like. */
  message?: string;
  containerId?: string;
  /** containerPort/protocol -> host port actually bound. */
  hostPorts?: { containerPort: number; hostPort: number; protocol: 'tcp' | 'udp' }[];
  exitCode?: number;
  /** Last lines of output when the container ended. */
  lastOutput?: string;
  /** Health of a running task with a health check: starting until the first verdict. */
  health?: TaskHealth;
  /** The latest probe, for `describe task`. */
  lastProbe?: { time: string; ok: boolean; message: string };
  /** The task's address on the cluster network (docs/networking.md). */
  address?: string;
}

export const TaskHealth = { Starting: 'starting', Healthy: 'healthy', Unhealthy: 'unhealthy' } as const;
export type TaskHealth = (typeof TaskHealth)[keyof typeof TaskHealth];

export interface Task {
  id: string;
  /** `<service>.<slot>.<suffix>` for replicated services, `<service>.<node-id>.<suffix>` for global. */
  name: string;
  serviceName: string;
  /** Replica slot (1-based) for replicated services; 0 for global tasks, which use nodeId. */
  slot: number;
  /** The service version (etcd mod_revision of the service) whose spec this task runs. */
  serviceVersion: number;
  /** Copy of the service spec this task runs: the agent needs nothing else. */
  spec: ServiceSpec;
  desiredState: DesiredState;
  nodeId?: string;
  status: TaskStatus;
  createdAt: string;
  /** How many tasks of this slot ended in a row before this one (crash loop counter). */
  restarts?: number;
  /** Not to be scheduled before this time (restart backoff), ISO time. */
  restartAt?: string;
  /** The service revision whose spec this task runs. */
  revision?: number;
  /** The service's `metadata.restartedAt` when this task was created (`rollout restart`). */
  restartedAt?: string;
  version?: number;
}

// ---------- Node ----------

export const NodeAvailability = { Active: 'active', Pause: 'pause', Drain: 'drain' } as const;
export type NodeAvailability = (typeof NodeAvailability)[keyof typeof NodeAvailability];

export const NodeState = { Ready: 'ready', Down: 'down', Unknown: 'unknown' } as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

export interface NodeResources {
  /** CPU in millicores. */
  cpu: number;
  /** Memory in bytes. */
  memory: number;
}

export interface Node {
  id: string;
  name: string;
  labels: Record<string, string>;
  availability: NodeAvailability;
  status: { state: NodeState; message?: string; timestamp: string; address?: string };
  capacity: NodeResources;
  allocatable: NodeResources;
  runtime: string;
  /** The Berth version of the node's agent, as it announced it when it registered. */
  agentVersion?: string;
  /** The node's container subnet, from the cluster's node subnets (none when the cluster has none). */
  subnet?: string;
  createdAt: string;
  /** The named volumes on the node, as its agent last reported them. */
  volumes?: NodeVolume[];
  version?: number;
}

export interface NodeVolume {
  name: string;
  /** The service whose task created it (its `berth.service` label). */
  service?: string;
  createdAt?: string;
  /** Mounted by a container of this node. */
  inUse: boolean;
}

/** A secret as the API shows it: never its value. */
export interface SecretInfo {
  name: string;
  /** Size of the value in bytes. */
  size: number;
  createdAt: string;
  updatedAt: string;
  /** `berth.stack` on the secrets a stack created. */
  labels?: Record<string, string>;
  version?: number;
}

/** Credentials of a private registry as the API shows them: the host and user, never the password. */
export interface RegistryInfo {
  host: string;
  username: string;
  createdAt: string;
  updatedAt: string;
}

/** A service as the cluster network serves it: its virtual address and its ready tasks' addresses. */
export interface ServiceEndpoints {
  service: string;
  vip: string;
  addresses: string[];
  /** The service's ingress ports (the routing mesh): open on every node, forwarded to `addresses`. */
  ingress?: IngressPort[];
  /** The networks it is on ("default" when it names none): only tasks sharing one resolve and reach it. */
  networks?: string[];
  /** Addresses of every task of it wanted running that has one, ready or not (whose packets are whose). */
  members?: string[];
}

/** A network services can be on (`networks/<name>`). */
export interface NetworkObject {
  name: string;
  createdAt: string;
}

/** A published port of the routing mesh, as every node opens it. */
export interface IngressPort {
  publishedPort: number;
  targetPort: number;
  protocol: 'tcp' | 'udp';
  proxyProtocol: boolean;
}

/** What an agent needs to wire its node's containers to every other node's (see docs/networking.md). */
export interface NodeNetwork {
  subnet: string;
  clusterRange: string;
  routes: { nodeId: string; address: string; subnet: string }[];
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
