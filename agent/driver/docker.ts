// The docker driver: runs each task as one container of the local Docker Engine. The container is
// named after the task and labelled with its task, service, slot and this node's name, so a
// restarted agent can list and adopt it. It never touches containers without its node label.
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import { hostPortOf } from '../../common/ports.js';
import { parseCpu, parseMemory } from '../../common/quantity.js';
import type { Task } from '../../common/types.js';
import { containerFields } from './container-options.js';
import { DockerApiError, DockerClient, DEFAULT_DOCKER_SOCKET, demuxLogs } from './docker-client.js';
import { FrameParser, LineSplitter, dockerSince, splitTimestamp } from './output-frames.js';
import {
  DEFAULT_PULL_POLICY,
  ImageNotPresentError,
  ImagePullError,
  InvalidSpecError,
  LAST_OUTPUT_LINES,
  Label,
  PullPolicy,
  RuntimeError,
  labelsOf,
  lastLines,
  ExecTimeoutError,
  type Driver,
  type ExecEvent,
  type ExecInteractive,
  type ExecStreamer,
  type Execer,
  type LogLine,
  type LogQuery,
  type LogReader,
  type ExecResult,
  type ExitResult,
  type HostPort,
  type Instance,
  type ProbeTarget,
} from './driver.js';
import { errorMessage } from '../../common/errors.js';
import { DEFAULT_BIND_ALLOW, bindAllowed, bindRefusal, configTarget, imageRegistry, secretTarget, volumeKind } from '../../common/workloads.js';
import { RegistryAuthError, RejectedSpecError, type RegistryAuth, type SecretPaths, type VolumeManager } from './driver.js';
import { CLUSTER_NETWORK } from '../network/node-network.js';

export interface DockerDriverOptions {
  /** This agent's node name, written in the `berth.node` label of every container. */
  nodeName: string;
  logger: Logger;
  socketPath?: string;
  /** Host paths bind mounts may use (default DEFAULT_BIND_ALLOW); anything else is rejected. */
  bindAllow?: readonly string[];
  /** Where the task's secret files are, to bind-mount them read-only. */
  secrets?: SecretPaths;
  /** The node's cluster network: new containers join the network it names (agent/network/). */
  network?: { networkForTasks(task: Task): Promise<{ name: string; dns: string[] } | undefined>; configured(): boolean };
  /** Told how long pulls and container starts take (the agent's metrics). */
  timings?: { pull(seconds: number, ok: boolean): void; containerStart(seconds: number): void };
}

/** Label of the Docker volumes Berth creates (named volumes of a spec). */
const VOLUME_LABEL = 'berth.volume';

interface ContainerSummary {
  Id: string;
  Labels: Record<string, string> | null;
  State: string;
}

interface ContainerInspect {
  Id: string;
  Name: string;
  Config: { Labels: Record<string, string> | null };
  State: { Status: string; Running: boolean; ExitCode: number; Error: string; OOMKilled: boolean; StartedAt: string };
  NetworkSettings: {
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    IPAddress?: string;
    Networks?: Record<string, { IPAddress?: string } | null> | null;
  };
}

/** X-Registry-Auth for `auth`: base64 (URL alphabet, padded) of {username, password, serveraddress}. */
export function registryAuthHeader(auth: RegistryAuth): string {
  const json = JSON.stringify({ username: auth.username, password: auth.password, serveraddress: auth.serverAddress });
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** What the Engine says when a registry refuses a pull for want of (valid) credentials. */
const AUTH_REFUSED = /no basic auth credentials|unauthorized|authentication required|401/i;

interface PullLine {
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Docker's "never started" time. */
const ZERO_TIME = '0001-01-01T00:00:00Z';
/** How long an image found present is trusted without asking the Engine again. */
const IMAGE_PRESENT_TTL_MS = 10_000;

export class DockerDriver implements Driver, ProbeTarget, Execer, LogReader, ExecStreamer, VolumeManager {
  readonly name = 'docker';
  private readonly client: DockerClient;
  private readonly nodeName: string;
  private readonly log: Logger;
  /** Image presence checks, in flight or recently answered yes (see imagePresent). */
  private readonly imageChecks = new Map<string, { present: Promise<boolean>; until?: number }>();
  private readonly network: DockerDriverOptions['network'];

  constructor(opts: DockerDriverOptions) {
    this.network = opts.network;
    this.client = new DockerClient(opts.socketPath ?? DEFAULT_DOCKER_SOCKET);
    this.nodeName = opts.nodeName;
    this.log = opts.logger.child({ driver: 'docker' });
    this.bindAllow = opts.bindAllow ?? DEFAULT_BIND_ALLOW;
    this.secrets = opts.secrets;
    this.timings = opts.timings;
  }

  private readonly timings: DockerDriverOptions['timings'];
  /** When each container this agent created was asked for (ms), until its start is answered. */
  private readonly createdAt = new Map<string, number>();

  private readonly bindAllow: readonly string[];
  private readonly secrets: SecretPaths | undefined;

  /**
   * The mounts of a task: named volumes (created first, labelled with the service and this node),
   * bind mounts within the allow-list (else RejectedSpecError), tmpfs, and its secret and config files.
   */
  private async mountsOf(task: Task): Promise<Record<string, unknown>[]> {
    const mounts: Record<string, unknown>[] = [];
    for (const [i, v] of (task.spec.volumes ?? []).entries()) {
      const kind = volumeKind(v);
      if (kind === 'bind') {
        const why = bindRefusal(v.hostPath!, this.bindAllow);
        if (why) throw new RejectedSpecError(`spec.volumes[${i}].hostPath: ${why} of node ${this.nodeName}`);
        const real = realpathOrSelf(v.hostPath!);
        if (!bindAllowed(real, this.bindAllow)) {
          throw new RejectedSpecError(`spec.volumes[${i}].hostPath: ${v.hostPath} leads to ${real}, outside the bind-mount allow-list of node ${this.nodeName}`);
        }
        mounts.push({ Type: 'bind', Source: real, Target: v.target, ReadOnly: v.readOnly ?? false });
      } else if (kind === 'tmpfs') {
        mounts.push({ Type: 'tmpfs', Target: v.target, ...(v.sizeBytes ? { TmpfsOptions: { SizeBytes: v.sizeBytes } } : {}) });
      } else {
        await this.client.json('POST', '/volumes/create', {
          body: { Name: v.name, Labels: { [VOLUME_LABEL]: 'true', [Label.Service]: task.serviceName, [Label.Node]: this.nodeName } },
        });
        mounts.push({ Type: 'volume', Source: v.name, Target: v.target, ReadOnly: v.readOnly ?? false });
      }
    }
    for (const ref of task.spec.secrets ?? []) {
      if (!this.secrets) throw new InvalidSpecError('this node cannot deliver secrets');
      mounts.push({ Type: 'bind', Source: this.secrets.fileOf(task.id, ref.source), Target: secretTarget(ref), ReadOnly: true });
    }
    for (const ref of task.spec.configs ?? []) {
      if (!this.secrets) throw new InvalidSpecError('this node cannot deliver configs');
      mounts.push({ Type: 'bind', Source: this.secrets.configFileOf(task.id, ref.source), Target: configTarget(ref), ReadOnly: true });
    }
    return mounts;
  }

  async listVolumes(): Promise<{ name: string; service?: string; createdAt?: string; inUse: boolean }[]> {
    const filters = JSON.stringify({ label: [VOLUME_LABEL, `${Label.Node}=${this.nodeName}`] });
    const res = await this.client.json<{ Volumes: { Name: string; Labels: Record<string, string> | null; CreatedAt?: string }[] | null }>('GET', '/volumes', { query: { filters } });
    const containers = await this.client.json<{ Mounts?: { Type: string; Name?: string }[] }[]>('GET', '/containers/json', { query: { all: '1' } });
    const used = new Set(containers.flatMap((c) => (c.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name!)));
    return (res.Volumes ?? []).map((v) => ({
      name: v.Name,
      ...(v.Labels?.[Label.Service] ? { service: v.Labels[Label.Service] } : {}),
      ...(v.CreatedAt ? { createdAt: v.CreatedAt } : {}),
      inUse: used.has(v.Name),
    }));
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.client.json('DELETE', `/volumes/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof DockerApiError && err.statusCode === 404) return;
      if (err instanceof DockerApiError) throw new RuntimeError(err.engineMessage, err.statusCode);
      throw err;
    }
  }

  addressesInstances(): boolean {
    return this.network?.configured() ?? false;
  }

  async ensureImage(image: string, policy: PullPolicy = DEFAULT_PULL_POLICY, auth?: RegistryAuth): Promise<void> {
    if (policy !== PullPolicy.Always) {
      if (await this.imagePresent(image)) return;
      if (policy === PullPolicy.Never) throw new ImageNotPresentError(image);
    }
    await this.pull(image, auth);
  }

  /**
   * Whether the Engine has `image`. Tasks of one service start together: they share one
   * question in flight, and a yes is trusted for IMAGE_PRESENT_TTL_MS (an image removed meanwhile
   * makes the create fail with 404, which forgets the yes: the task's restart asks again).
   */
  private imagePresent(image: string): Promise<boolean> {
    const known = this.imageChecks.get(image);
    if (known && (known.until === undefined || Date.now() < known.until)) return known.present;
    const present = this.client.jsonOrUndefined('GET', `/images/${image}/json`).then((info) => !!info);
    const entry: { present: Promise<boolean>; until?: number } = { present };
    this.imageChecks.set(image, entry);
    present.then(
      (yes) => {
        if (yes) entry.until = Date.now() + IMAGE_PRESENT_TTL_MS;
        else this.imageChecks.delete(image);
      },
      () => this.imageChecks.delete(image),
    );
    return present;
  }

  private async pull(image: string, auth?: RegistryAuth): Promise<void> {
    const began = performance.now();
    try {
      await this.pullImage(image, auth);
      this.timings?.pull((performance.now() - began) / 1000, true);
    } catch (err) {
      this.timings?.pull((performance.now() - began) / 1000, false);
      throw err;
    }
  }

  private async pullImage(image: string, auth?: RegistryAuth): Promise<void> {
    const { fromImage, tag } = splitImageRef(image);
    this.log.info({ image, ...(auth ? { registry: auth.serverAddress, withCredentials: true } : {}) }, 'pulling image');
    // The Engine's X-Registry-Auth: JSON of the credentials in URL-safe base64 *with* padding
    // (Go's base64.URLEncoding; Node's 'base64url' drops the padding, which the Engine ignores
    // silently, pulling without credentials). Never logged.
    const headers = auth ? { 'X-Registry-Auth': registryAuthHeader(auth) } : undefined;
    let failure: string | undefined;
    let lastStatus = '';
    try {
      await this.client.jsonLines('POST', '/images/create', { query: { fromImage, tag }, ...(headers ? { headers } : {}) }, (raw) => {
        const line = raw as PullLine;
        if (line.error) {
          failure = line.errorDetail?.message ?? line.error;
          return;
        }
        // Per-layer progress is noisy: layer events go to debug, the rest (pulling from, digest,
        // final status) to info.
        const status = line.status ?? '';
        if (line.id && status !== lastStatus && !/^(Pulling from|Digest|Status)/.test(status)) {
          this.log.debug({ image, layer: line.id, status }, 'pull progress');
        } else if (!line.id || /^Pulling from/.test(status)) {
          this.log.info({ image, status }, 'pull progress');
        }
        lastStatus = status;
      });
    } catch (err) {
      if (err instanceof DockerApiError) failure = err.engineMessage;
      else throw err;
    }
    if (failure) {
      const registry = imageRegistry(image);
      if (registry && AUTH_REFUSED.test(failure)) throw new RegistryAuthError(registry, image, failure, !!auth);
      throw new ImagePullError(image, failure);
    }
    this.log.info({ image }, 'image pulled');
  }

  async create(task: Task): Promise<string> {
    const spec = task.spec;
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of spec.ports ?? []) {
      const key = `${p.containerPort}/${p.protocol ?? 'tcp'}`;
      exposed[key] = {};
      // An empty host port lets the Engine pick a free one.
      // An ingress port (the routing mesh) is opened by the node's rules, not bound here.
      const hostPort = hostPortOf(p);
      bindings[key] = [{ HostIp: p.hostIp ?? '', HostPort: hostPort ? String(hostPort) : '' }];
    }
    const options = containerFields(spec);
    const hostConfig: Record<string, unknown> = { ...options.hostConfig, PortBindings: bindings };
    const mounts = await this.mountsOf(task);
    if (mounts.length) hostConfig.Mounts = mounts;
    const network = await this.network?.networkForTasks(task);
    if (network) {
      hostConfig.NetworkMode = network.name;
      // The node's resolver answers the cluster's service names and forwards the rest.
      hostConfig.Dns = network.dns;
    }
    if (spec.resources?.cpu) {
      const milli = parseCpu(spec.resources.cpu);
      if (milli === undefined) throw new InvalidSpecError(`invalid cpu quantity "${spec.resources.cpu}"`);
      hostConfig.NanoCpus = milli * 1_000_000;
    }
    if (spec.resources?.memory) {
      const bytes = parseMemory(spec.resources.memory);
      if (bytes === undefined) throw new InvalidSpecError(`invalid memory quantity "${spec.resources.memory}"`);
      hostConfig.Memory = bytes;
    }
    const body: Record<string, unknown> = {
      ...options.config,
      Image: spec.image,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: { ...options.labels, ...labelsOf(task, this.nodeName) },
      ExposedPorts: exposed,
      HostConfig: hostConfig,
    };
    if (spec.command?.length) body.Entrypoint = spec.command;
    if (spec.args?.length) body.Cmd = spec.args;
    const began = performance.now();
    try {
      const res = await this.client.json<{ Id: string; Warnings?: string[] }>('POST', '/containers/create', {
        query: { name: task.name },
        body,
      });
      for (const w of res.Warnings ?? []) if (w) this.log.warn({ task: task.name, warning: w }, 'docker create warning');
      if (this.timings) this.createdAt.set(res.Id, began);
      return res.Id;
    } catch (err) {
      // No such image (removed since it was found present): the next start asks the Engine again.
      if (err instanceof DockerApiError && err.statusCode === 404) this.imageChecks.delete(spec.image);
      if (err instanceof DockerApiError && err.statusCode === 409) {
        // The name is taken: if it is this very task's container (created before an agent crash),
        // use it rather than failing or starting a twin.
        const existing = await this.inspectRaw(task.name);
        if (existing?.Config.Labels?.[Label.Task] === task.id) return existing.Id;
        throw new RuntimeError(`a container named "${task.name}" already exists and does not belong to task ${task.id}`, 409);
      }
      throw friendly(err, `creating container for task ${task.name}`);
    }
  }

  async start(id: string): Promise<void> {
    const created = this.createdAt.get(id);
    this.createdAt.delete(id);
    try {
      await this.client.json('POST', `/containers/${id}/start`);
      if (created !== undefined) this.timings?.containerStart((performance.now() - created) / 1000);
    } catch (err) {
      // 304: already started.
      if (err instanceof DockerApiError && err.statusCode === 304) return;
      throw friendly(err, 'starting container');
    }
  }

  async wait(id: string, signal?: AbortSignal): Promise<ExitResult> {
    let res: { StatusCode: number; Error?: { Message?: string } | null };
    try {
      res = await this.client.json('POST', `/containers/${id}/wait`, { query: { condition: 'not-running' }, signal });
    } catch (err) {
      if (err instanceof DockerApiError && err.statusCode === 404) {
        return { exitCode: -1, lastOutput: '', error: 'container was removed' };
      }
      throw err;
    }
    const info = await this.inspectRaw(id);
    const lastOutput = await this.tail(id);
    const error = res.Error?.Message || info?.State.Error || (info?.State.OOMKilled ? 'out of memory (OOM killed)' : '');
    return { exitCode: res.StatusCode, lastOutput, ...(error ? { error } : {}) };
  }

  private async tail(id: string): Promise<string> {
    try {
      const res = await this.client.raw('GET', `/containers/${id}/logs`, {
        query: { stdout: 1, stderr: 1, tail: LAST_OUTPUT_LINES },
      });
      if (res.status >= 400) return '';
      return lastLines(demuxLogs(res.body));
    } catch {
      return '';
    }
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    try {
      // The Engine sends the stop signal, waits t seconds, then SIGKILL; the call returns once
      // the container has stopped.
      await this.client.json('POST', `/containers/${id}/stop`, { query: { t: Math.max(0, Math.round(graceSeconds)) } });
    } catch (err) {
      if (err instanceof DockerApiError && (err.statusCode === 304 || err.statusCode === 404)) return;
      throw friendly(err, 'stopping container');
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.client.json('DELETE', `/containers/${id}`, { query: { force: true, v: true } });
    } catch (err) {
      if (err instanceof DockerApiError && err.statusCode === 404) return;
      // 409 "removal already in progress" means it is going anyway.
      if (err instanceof DockerApiError && err.statusCode === 409 && /in progress/.test(err.engineMessage)) return;
      throw friendly(err, 'removing container');
    }
  }

  async list(): Promise<Instance[]> {
    const filters = JSON.stringify({ label: [`${Label.Node}=${this.nodeName}`] });
    const summaries = await this.client.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters } });
    const out: Instance[] = [];
    for (const s of summaries) {
      const inst = await this.inspect(s.Id);
      if (inst) out.push(inst);
    }
    return out;
  }

  async inspect(id: string): Promise<Instance | undefined> {
    const c = await this.inspectRaw(id);
    if (!c) return undefined;
    const labels = c.Config.Labels ?? {};
    const started = c.State.StartedAt !== ZERO_TIME && c.State.Status !== 'created';
    return {
      id: c.Id,
      taskId: labels[Label.Task] ?? '',
      taskName: labels[Label.TaskName] ?? c.Name.replace(/^\//, ''),
      serviceName: labels[Label.Service] ?? '',
      slot: Number(labels[Label.Slot] ?? 0),
      running: c.State.Running,
      started,
      ...(started && !c.State.Running ? { exitCode: c.State.ExitCode } : {}),
      hostPorts: hostPortsOf(c.NetworkSettings.Ports),
      ...(c.NetworkSettings.Networks?.[CLUSTER_NETWORK]?.IPAddress ? { address: c.NetworkSettings.Networks[CLUSTER_NETWORK].IPAddress } : {}),
    };
  }

  async probeAddress(id: string): Promise<string | undefined> {
    const c = await this.inspectRaw(id);
    if (!c?.State.Running) return undefined;
    return containerAddress(c.NetworkSettings);
  }

  /** An exec instance attached to stdout and stderr, not yet started. */
  private async createExec(id: string, command: string[], tty = false, stdin = false): Promise<string> {
    try {
      const { Id } = await this.client.json<{ Id: string }>('POST', `/containers/${id}/exec`, {
        body: { Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: stdin, Tty: tty },
      });
      return Id;
    } catch (err) {
      throw friendly(err, 'creating exec');
    }
  }

  async exec(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const execId = await this.createExec(id, command);
    // Not detached: the answer streams the command's output and ends when the command exits.
    // The Engine has no call to kill an exec, so on timeout the command is left to finish alone.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    let output: string;
    try {
      const res = await this.client.raw('POST', `/exec/${execId}/start`, {
        body: { Detach: false, Tty: false },
        signal: timeout.signal,
      });
      if (res.status >= 400) throw new RuntimeError(`starting exec: ${res.status} ${res.body.toString('utf8').trim()}`, res.status);
      output = demuxLogs(res.body);
    } catch (err) {
      if (timeout.signal.aborted) throw new ExecTimeoutError(command, timeoutMs);
      throw friendly(err, 'running exec');
    } finally {
      clearTimeout(timer);
    }
    const info = await this.client.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${execId}/json`);
    return { exitCode: info.ExitCode ?? -1, output: lastLines(output) };
  }

  /** The Engine's logs API, always with timestamps (the caller decides whether to show them). */
  async *readLogs(id: string, query: LogQuery, signal: AbortSignal): AsyncIterable<LogLine[]> {
    let res;
    try {
      res = await this.client.open('GET', `/containers/${id}/logs`, {
        query: {
          stdout: 1,
          stderr: 1,
          timestamps: 1,
          follow: query.follow ? 1 : 0,
          tail: query.tail ?? 'all',
          since: query.since ? dockerSince(query.since) : undefined,
        },
        signal,
      });
    } catch (err) {
      throw signal.aborted ? err : friendly(err, 'reading logs');
    }
    const frames = new FrameParser();
    const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
    try {
      for await (const chunk of res) {
        const batch: LogLine[] = [];
        for (const f of frames.push(chunk as Buffer)) {
          for (const raw of splitters[f.stream].push(f.data)) batch.push(splitTimestamp(f.stream, raw));
        }
        if (batch.length) yield batch;
      }
    } finally {
      res.destroy();
    }
    const rest = [
      ...splitters.stdout.flush().map((l) => splitTimestamp('stdout', l)),
      ...splitters.stderr.flush().map((l) => splitTimestamp('stderr', l)),
    ];
    if (rest.length) yield rest;
  }

  readonly interactiveExec = true;

  async *execStream(id: string, command: string[], signal: AbortSignal, interactive?: ExecInteractive): AsyncIterable<ExecEvent> {
    const tty = interactive?.tty ?? false;
    const execId = await this.createExec(id, command, tty, interactive?.stdin ?? false);
    let res: AsyncIterable<unknown> & { destroy(): void };
    if (interactive) {
      // Attached with stdin, the Engine hijacks the connection: output one way, stdin the other.
      const { socket, head } = await this.client.upgrade('POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: tty }, signal });
      if (head.length) socket.unshift(head);
      const resize = (cols: number, rows: number): Promise<void> => {
        if (!tty || cols <= 0 || rows <= 0) return Promise.resolve();
        return this.client.raw('POST', `/exec/${execId}/resize`, { query: { w: cols, h: rows } }).then(
          () => undefined,
          (err: unknown) => this.log.debug({ execId, err: errorMessage(err) }, 'could not resize an exec'),
        );
      };
      // Sized before any input reaches it: a command that reads first sees the right size.
      if (interactive.size) await resize(interactive.size.cols, interactive.size.rows);
      interactive.attached({
        write: (data) => {
          if (!socket.destroyed && interactive.stdin) socket.write(data);
        },
        closeStdin: () => {
          if (!socket.destroyed) socket.end();
        },
        resize: (cols, rows) => void resize(cols, rows),
      });
      signal.addEventListener('abort', () => socket.destroy(), { once: true });
      res = socket;
    } else {
      res = await this.client.open('POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: false }, signal });
    }
    // A TTY's output is raw (one stream); FrameParser passes it through as stdout.
    const frames = new FrameParser();
    let finished = false;
    try {
      for await (const chunk of res) {
        if (tty) yield { kind: 'output', stream: 'stdout', data: Buffer.from(chunk as Buffer) };
        else for (const f of frames.push(chunk as Buffer)) yield { kind: 'output', stream: f.stream, data: Buffer.from(f.data) };
      }
      // An abort can end the answer quietly, as if the command had ended.
      finished = !signal.aborted;
    } finally {
      res.destroy();
      // The Engine has no call to end an exec: kill its process (the agent shares the host's pid
      // namespace), so a cancelled `berth exec` leaves nothing running.
      if (!finished) await this.killExec(execId);
    }
    signal.throwIfAborted();
    const info = await this.client.json<{ ExitCode: number | null }>('GET', `/exec/${execId}/json`);
    yield { kind: 'exit', exitCode: info.ExitCode ?? -1 };
  }

  private async killExec(execId: string): Promise<void> {
    try {
      const info = await this.client.json<{ Pid?: number; Running?: boolean }>('GET', `/exec/${execId}/json`);
      if (!info.Running || !info.Pid) return;
      // Children first: killed alone, the command's shell would leave them to the container's init.
      for (const pid of [...descendantsOf(info.Pid), info.Pid]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch (err) {
      this.log.debug({ execId, err: errorMessage(err) }, 'could not kill a cancelled exec');
    }
  }

  private inspectRaw(idOrName: string): Promise<ContainerInspect | undefined> {
    return this.client.jsonOrUndefined<ContainerInspect>('GET', `/containers/${idOrName}/json`);
  }
}

/** Every process below `root` (host pids, from /proc), deepest last. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // ended meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** `registry:5000/a/b:tag` -> fromImage `registry:5000/a/b`, tag `tag`; a digest stays whole. */
export function splitImageRef(image: string): { fromImage: string; tag?: string } {
  if (image.includes('@')) return { fromImage: image };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { fromImage: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { fromImage: image, tag: 'latest' };
}

/** The Engine reports IPv4 and IPv6 bindings of one port separately: keep one per port. */
export function hostPortsOf(ports: ContainerInspect['NetworkSettings']['Ports']): HostPort[] {
  const out: HostPort[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const [portText, proto] = key.split('/');
    const binding = bindings?.find((b) => b.HostPort);
    if (!binding) continue;
    out.push({
      containerPort: Number(portText),
      hostPort: Number(binding.HostPort),
      protocol: proto === 'udp' ? 'udp' : 'tcp',
    });
  }
  return out.sort((a, b) => a.containerPort - b.containerPort);
}

/** The container's IP: the default bridge's, else the first network's that has one. */
export function containerAddress(net: ContainerInspect['NetworkSettings']): string | undefined {
  if (net.IPAddress) return net.IPAddress;
  for (const n of Object.values(net.Networks ?? {})) if (n?.IPAddress) return n.IPAddress;
  return undefined;
}

function friendly(err: unknown, doing: string): Error {
  if (err instanceof DockerApiError) return new RuntimeError(`${doing}: ${err.engineMessage}`, err.statusCode);
  return err instanceof Error ? err : new Error(String(err));
}

/** The path with its symbolic links resolved (a link must not lead out of the allow-list), or itself if absent. */
function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
