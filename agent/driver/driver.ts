// The driver: the one seam between a task runner and a container runtime (Docker Engine, or plain
// host processes). It owns creating, starting, waiting for, stopping and removing the runtime
// instances of tasks on this node, and finding them again after an agent restart. It must not
// decide anything about a task's lifecycle (that is the task runner's job) and must not touch
// instances that are not labelled as belonging to its node.
// Modelled on swarmkit's exec controller and Nomad's driver plugin (StartTask, WaitTask,
// StopTask, DestroyTask, InspectTask, RecoverTask). Optional abilities are separate small
// interfaces (ProbeTarget, Execer, LogReader, ExecStreamer below), checked with type guards.
import type { ServiceSpec, Task, TaskStatus } from '../../common/types.js';
import { BerthError } from '../../common/errors.js';
import type { OutputStream } from '../../common/logs.js';

export const PullPolicy = { Always: 'always', IfNotPresent: 'if-not-present', Never: 'never' } as const;
export type PullPolicy = (typeof PullPolicy)[keyof typeof PullPolicy];

export const DEFAULT_PULL_POLICY: PullPolicy = PullPolicy.IfNotPresent;
export const DEFAULT_STOP_GRACE_SECONDS = 10;
/** How many lines of output an ended instance reports. */
export const LAST_OUTPUT_LINES = 20;

/** Labels every instance carries; `berth.node` is how a restarted agent finds its own. */
export const Label = {
  Task: 'berth.task',
  TaskName: 'berth.task.name',
  Service: 'berth.service',
  Slot: 'berth.slot',
  Node: 'berth.node',
} as const;

export type HostPort = NonNullable<TaskStatus['hostPorts']>[number];

/** What the runtime knows of one instance (a container, or a host process). */
export interface Instance {
  /** Runtime id: the container id, or the task id for host processes. */
  id: string;
  taskId: string;
  taskName: string;
  serviceName: string;
  slot: number;
  running: boolean;
  /** Set once the instance has run and ended. */
  exitCode?: number;
  /** True once `start` was called (an instance can exist created but never started). */
  started: boolean;
  hostPorts: HostPort[];
  /** Its address on the cluster network, when it is on one. */
  address?: string;
}

export interface ExitResult {
  exitCode: number;
  /** The last lines of the instance's output (stdout and stderr interleaved). */
  lastOutput: string;
  /** Runtime's own error for the exit (e.g. OOM killed), when it gives one. */
  error?: string;
}

export interface Driver {
  /** `docker` or `process`, reported as the node's runtime. */
  readonly name: string;
  /** True when its instances have cluster-network addresses worth reporting (an inspection after start). */
  addressesInstances?(): boolean;
  /** Makes the image available locally according to the pull policy (with the credentials of its registry, if any). */
  ensureImage(image: string, policy?: PullPolicy, auth?: RegistryAuth): Promise<void>;
  /**
   * Creates the instance of a task (not started). Creating a task that already has an instance
   * returns that instance's id rather than a twin.
   */
  create(task: Task): Promise<string>;
  start(id: string): Promise<void>;
  /** Resolves when the instance has ended (at once if it already has); rejects if `signal` aborts. */
  wait(id: string, signal?: AbortSignal): Promise<ExitResult>;
  /** SIGTERM (or the image's stop signal), then SIGKILL after `graceSeconds`. No-op if not running. */
  stop(id: string, graceSeconds: number): Promise<void>;
  /** Removes the instance (killing it if it still runs). No-op if it is gone. */
  remove(id: string): Promise<void>;
  /** Every instance of this node, running or not (for adoption after an agent restart). */
  list(): Promise<Instance[]>;
  /** undefined when the instance does not exist. */
  inspect(id: string): Promise<Instance | undefined>;
}

/** Optional ability: where a health probe reaches an instance's ports (its own ports, not host ports). */
export interface ProbeTarget {
  /**
   * The address at which the instance's container ports answer: the container's IP on its
   * network for Docker (so unpublished ports can be probed), the loopback for host processes.
   * undefined when the instance has no reachable address (gone, or not on a network).
   */
  probeAddress(id: string): Promise<string | undefined>;
}

export interface ExecResult {
  exitCode: number;
  /** Output of the command (stdout and stderr interleaved), possibly cut short. */
  output: string;
}

/** Optional ability: run a command inside (or, for host processes, beside) a running instance. */
export interface Execer {
  /** Rejects with ExecTimeoutError when the command runs longer than `timeoutMs`. */
  exec(id: string, command: string[], timeoutMs: number): Promise<ExecResult>;
}

export { OutputStream } from '../../common/logs.js';

/** One line of an instance's output, without its newline. */
export interface LogLine {
  stream: OutputStream;
  /** RFC 3339 time the runtime recorded the line at; absent when the runtime keeps none. */
  time?: string;
  line: string;
}

export interface LogQuery {
  /** Keep reading new lines until the instance ends (or the signal aborts). */
  follow: boolean;
  /** Only the last N lines written before the call. */
  tail?: number;
  /** RFC 3339: only lines written at or after this time. */
  since?: string;
}

/** Optional ability: read an instance's output, stdout and stderr kept apart. */
export interface LogReader {
  /**
   * Batches of lines, oldest first. The runtime is read only as fast as the caller pulls, so a
   * slow reader holds nothing but the current batch. Aborting `signal` ends the iteration.
   * Rejects with LogsUnsupportedError for a query the runtime cannot answer.
   */
  readLogs(id: string, query: LogQuery, signal: AbortSignal): AsyncIterable<LogLine[]>;
}

export type ExecEvent = { kind: 'output'; stream: OutputStream; data: Buffer } | { kind: 'exit'; exitCode: number };

/** Optional ability: run a command in (or beside) an instance, streaming its output. */
export interface ExecStreamer {
  /**
   * Output chunks as the command writes them, then one `exit` event. Pulled like readLogs.
   * Aborting `signal` ends the command (best effort for Docker, which cannot kill an exec).
   */
  execStream(id: string, command: string[], signal: AbortSignal, interactive?: ExecInteractive): AsyncIterable<ExecEvent>;
  /** Whether `interactive` is honoured (stdin, a TTY); a driver without it is refused interactive requests. */
  readonly interactiveExec?: boolean;
}

/** An interactive exec: a TTY and/or stdin. Its output then comes as one stream when tty is set. */
export interface ExecInteractive {
  tty: boolean;
  stdin: boolean;
  /** The terminal's initial size. */
  size?: { cols: number; rows: number };
  /** Called once the command runs, with what feeds it (input sent before is the caller's to keep). */
  attached(io: ExecIo): void;
}

/** Feeds an interactive exec. */
export interface ExecIo {
  write(data: Buffer): void;
  closeStdin(): void;
  resize(cols: number, rows: number): void;
}

export function isLogReader(d: Driver): d is Driver & LogReader {
  return typeof (d as Partial<LogReader>).readLogs === 'function';
}

export function isExecStreamer(d: Driver): d is Driver & ExecStreamer {
  return typeof (d as Partial<ExecStreamer>).execStream === 'function';
}

/** The runtime cannot answer this logs query (e.g. --since without line times). */
export class LogsUnsupportedError extends BerthError {
  override readonly code: string = 'LOGS_UNSUPPORTED';
}

export function isProbeTarget(d: Driver): d is Driver & ProbeTarget {
  return typeof (d as Partial<ProbeTarget>).probeAddress === 'function';
}

export function isExecer(d: Driver): d is Driver & Execer {
  return typeof (d as Partial<Execer>).exec === 'function';
}

/** A command run through Execer did not finish in time. */
export class ExecTimeoutError extends BerthError {
  override readonly code: string = 'EXEC_TIMEOUT';
  constructor(
    readonly command: string[],
    readonly timeoutMs: number,
  ) {
    super(`command timed out after ${timeoutMs / 1000}s`);
  }
}

export function pullPolicyOf(spec: ServiceSpec): PullPolicy {
  return spec.pullPolicy ?? DEFAULT_PULL_POLICY;
}

export function stopGraceOf(spec: ServiceSpec): number {
  return spec.stopGracePeriodSeconds ?? DEFAULT_STOP_GRACE_SECONDS;
}

export function labelsOf(task: Task, nodeName: string): Record<string, string> {
  return {
    [Label.Task]: task.id,
    [Label.TaskName]: task.name,
    [Label.Service]: task.serviceName,
    [Label.Slot]: String(task.slot),
    [Label.Node]: nodeName,
  };
}

/** The image is absent and the pull policy forbids pulling it. */
export class ImageNotPresentError extends BerthError {
  override readonly code: string = 'IMAGE_NOT_PRESENT';
  constructor(readonly image: string) {
    super(`image "${image}" not found locally and pull policy is never`);
  }
}

export class ImagePullError extends BerthError {
  override readonly code: string = 'IMAGE_PULL_FAILED';
  override readonly transient = true;
  constructor(
    readonly image: string,
    readonly detail: string,
  ) {
    super(`pulling image "${image}" failed: ${detail}`);
  }
}

/** The spec cannot be run by this driver (e.g. no command for the process driver). */
export class InvalidSpecError extends BerthError {
  override readonly code: string = 'INVALID_SPEC';
}

/** The node refuses the spec by its own rules (a bind mount outside its allow-list): the task is `rejected`. */
export class RejectedSpecError extends InvalidSpecError {
  override readonly code: string = 'REJECTED';
}

/** Where a task's secret and config files are on the node (agent/workloads/secret-files.ts writes them). */
export interface SecretPaths {
  fileOf(taskId: string, secret: string): string;
  configFileOf(taskId: string, config: string): string;
}

/** Credentials for pulling from a private registry (the Engine's X-Registry-Auth). */
export interface RegistryAuth {
  serverAddress: string;
  username: string;
  password: string;
}

/**
 * A pull the registry refused for want of (valid) credentials: the task is rejected, the message
 * names the registry.
 */
export class RegistryAuthError extends RejectedSpecError {
  override readonly code: string = 'REGISTRY_AUTH';
  constructor(
    readonly registry: string,
    readonly image: string,
    detail: string,
    hadCredentials: boolean,
  ) {
    super(
      `registry ${registry} refused to pull "${image}": authentication required (${detail.trim()}); ` +
        (hadCredentials ? `the credentials stored for ${registry} were refused: run berth registry login ${registry} again` : `no credentials are stored for ${registry}: run berth registry login ${registry}`),
    );
  }
}

/** Optional ability: the node's named volumes (Docker volumes labelled by Berth). */
export interface VolumeManager {
  listVolumes(): Promise<{ name: string; service?: string; createdAt?: string; inUse: boolean }[]>;
  /** Refused (RuntimeError) while a container uses it. */
  removeVolume(name: string): Promise<void>;
}

export function isVolumeManager(d: unknown): d is VolumeManager {
  return typeof (d as VolumeManager | undefined)?.listVolumes === 'function';
}

/** The runtime itself failed or refused (Docker Engine error, spawn failure). */
export class RuntimeError extends BerthError {
  override readonly code: string = 'RUNTIME';
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

/** Keeps the last `max` lines of a text. */
export function lastLines(text: string, max = LAST_OUTPUT_LINES): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  return lines.slice(-max).join('\n');
}
