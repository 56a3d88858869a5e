// Agent: one node's worker (runs the tasks) wired to its session (talks to the control plane).
//
// Owns: the order of things. The worker adopts what already runs before the session asks for
// anything, and on stop the session ends before the worker stops supervising (containers are
// left running, to be adopted by the next agent on this node).
// Must not: parse flags (cli.ts) or know the protocol (session/) or the runtime (driver/).
import type { Logger } from 'pino';
import type { PemKeyPair } from '../common/pki/certs.js';
import type { NodeNetwork, NodeResources, ServiceEndpoints } from '../common/types.js';
import { DockerDriver } from './driver/docker.js';
import { isVolumeManager, type Driver } from './driver/driver.js';
import { SecretFiles, type TaskFileValues } from './workloads/secret-files.js';
import { ContainerStats, type ContainerSample } from './metrics/container-stats.js';
import { AgentMetrics, type AgentTimings } from './metrics/instruments.js';
import { serveAgentMetrics, type MetricsEndpoint } from './metrics/endpoint.js';
import type { UsageReport } from '../common/usage.js';
import { errorMessage } from '../common/errors.js';
import { VolumeSync } from './workloads/volume-sync.js';
import { DockerClient } from './driver/docker-client.js';
import { NodeNetworking } from './network/node-network.js';
import { ProcessDriver } from './driver/process.js';
import { AgentSession } from './session/session.js';
import { StreamRequests } from './session/stream-requests.js';
import { Worker } from './worker/worker.js';
import type { TaskWorker } from './worker/types.js';

export const Runtime = { Docker: 'docker', Process: 'process' } as const;
export type Runtime = (typeof Runtime)[keyof typeof Runtime];

export interface AgentOptions {
  /** `HOST:PORT` of the control plane's dispatcher. */
  server: string;
  /** Needed only to join: a node whose data dir holds a valid certificate connects with it. */
  joinToken?: string | undefined;
  nodeName: string;
  labels: Record<string, string>;
  runtime: Runtime;
  dataDir: string;
  capacity: NodeResources;
  version: string;
  logger: Logger;
  /** A worker to use instead of the real one (hollow nodes of the scale benchmark). */
  worker?: TaskWorker;
  /** Cut off from the control plane this long, the node stops its tasks (see AgentSession). */
  fenceAfterMs?: number;
  /** The Docker Engine's socket (docker runtime); default /var/run/docker.sock. */
  dockerSocket?: string;
  /** Hollow nodes: the node's certificate in memory only, and one key for all nodes of the process. */
  identity?: { inMemory?: boolean; sharedKey?: PemKeyPair };
  /** Host paths bind mounts may use (default DEFAULT_BIND_ALLOW: /srv, /var/lib/berth-volumes). */
  bindAllow?: readonly string[];
  /** Serve the agent's own `/metrics` here (a loopback address, agent/metrics/endpoint.ts); default: none. */
  metricsListen?: { host: string; port: number };
  /** How often the containers' stats are read and usage is sent (default 5 s). */
  usageIntervalMs?: number;
}

export class Agent {
  readonly worker: TaskWorker;
  readonly session: AgentSession;
  /** Logs and exec requests of the control plane being served. */
  readonly streams: StreamRequests;
  private done: Promise<Error | undefined> | undefined;
  private stopping: Promise<void> | undefined;

  /** The secret files of this node's tasks (none for a substitute worker). */
  private readonly secretFiles: SecretFiles | undefined;
  private readonly volumeSync: VolumeSync | undefined;
  /** The node's cluster network (docker runtime only). */
  readonly networking: NodeNetworking | undefined;
  /** The containers' CPU and memory (docker runtime only). */
  readonly containerStats: ContainerStats | undefined;
  /** The agent's instruments; none for a substitute worker (hollow nodes: thousands in a process) unless it serves them. */
  readonly metrics: AgentMetrics | undefined;
  private metricsEndpoint: MetricsEndpoint | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.networking =
      !opts.worker && opts.runtime === Runtime.Docker ? new NodeNetworking(new DockerClient(opts.dockerSocket), opts.logger.child({ component: 'network' })) : undefined;
    // A substitute worker (hollow nodes) runs nothing, so there is nothing to read logs from.
    this.secretFiles = opts.worker ? undefined : new SecretFiles(opts.dataDir, (taskId) => this.fetchSecrets(taskId), opts.logger.child({ component: 'secrets' }));
    this.containerStats =
      !opts.worker && opts.runtime === Runtime.Docker
        ? new ContainerStats({ client: new DockerClient(opts.dockerSocket), nodeName: opts.nodeName, logger: opts.logger, ...(opts.usageIntervalMs ? { intervalMs: opts.usageIntervalMs } : {}) })
        : undefined;
    const stats = this.containerStats;
    this.metrics =
      opts.worker && !opts.metricsListen
        ? undefined
        : new AgentMetrics({ statuses: () => this.worker.statuses(), ...(stats ? { containers: () => stats.latest() } : {}) });
    const metrics = this.metrics;
    const driver = opts.worker ? undefined : createDriver(opts, this.networking, this.secretFiles, metrics);
    this.worker =
      opts.worker ??
      new Worker({
        driver: driver!,
        nodeName: opts.nodeName,
        dataDir: opts.dataDir,
        logger: opts.logger,
        ...(this.secretFiles ? { files: this.secretFiles } : {}),
        ...(metrics ? { onProbe: (service: string, ok: boolean) => metrics.probe(service, ok) } : {}),
      });
    if (driver && isVolumeManager(driver)) {
      const sync = new VolumeSync(driver, () => this.session.dispatcherClient(), opts.logger.child({ component: 'volumes' }));
      this.volumeSync = sync;
      // A task that starts may have created a volume: report it at once (its service pins to it).
      this.worker.onStatus((r) => {
        if (r.status.state === 'running') sync.poke();
      });
    }
    this.streams = new StreamRequests(driver, opts.logger);
    this.session = new AgentSession({
      server: opts.server,
      ...(opts.joinToken ? { joinToken: opts.joinToken } : {}),
      ...(opts.identity?.inMemory ? {} : { identityDir: opts.dataDir }),
      ...(opts.identity?.sharedKey ? { sharedKey: opts.identity.sharedKey } : {}),
      nodeName: opts.nodeName,
      labels: opts.labels,
      capacity: opts.capacity,
      runtime: opts.runtime,
      agentVersion: opts.version,
      worker: this.worker,
      logger: opts.logger,
      streams: this.streams,
      ...(this.networking
        ? {
            onNetwork: (net: NodeNetwork) => void this.networking!.apply(net),
            onEndpoints: (list: ServiceEndpoints[]) => this.networking!.applyEndpoints(list),
          }
        : {}),
      ...(opts.fenceAfterMs !== undefined ? { fenceAfterMs: opts.fenceAfterMs } : {}),
      ...(stats ? { usage: () => usageReport(stats.latest(), opts.capacity), ...(opts.usageIntervalMs ? { usageIntervalMs: opts.usageIntervalMs } : {}) } : {}),
    });
  }

  /**
   * Adopts what runs, then connects. Resolves once connecting has begun; `finished` tells when
   * the agent ends by itself (the server refused the join token).
   */
  async start(): Promise<void> {
    const listen = this.opts.metricsListen;
    if (listen && this.metrics) {
      this.metricsEndpoint = await serveAgentMetrics(listen, this.metrics.registry, this.opts.logger).catch((err: unknown) => {
        throw new Error(`--metrics-listen ${listen.host}:${listen.port}: ${errorMessage(err)}`);
      });
    }
    await this.worker.start();
    this.containerStats?.start();
    this.done = this.session.start();
    this.volumeSync?.start();
  }

  /** The values of one task's secrets and configs and its registry's credentials, asked of the control plane over this node's mutual-TLS connection. */
  private fetchSecrets(taskId: string): Promise<TaskFileValues> {
    const client = this.session.dispatcherClient();
    return new Promise((resolve, reject) =>
      client.GetTaskSecrets({ taskId }, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) reject(new Error(`the control plane did not send the task's secrets: ${err.details || err.message}`));
        else {
          const auth = res?.registryAuth;
          resolve({
            secrets: (res?.secrets ?? []).map((s) => ({ name: s.name, data: s.data })),
            configs: (res?.configs ?? []).map((s) => ({ name: s.name, data: s.data })),
            ...(auth?.serverAddress ? { registryAuth: { serverAddress: auth.serverAddress, username: auth.username, password: auth.password } } : {}),
          });
        }
      }),
    );
  }

  /** Resolves with the reason the session gave up for good, or undefined once stopped. */
  get finished(): Promise<Error | undefined> {
    return this.done ?? Promise.resolve(undefined);
  }

  /** Idempotent. Leaves containers running. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.volumeSync?.stop();
      await this.session.stop();
      await this.containerStats?.stop();
      await this.metricsEndpoint?.close();
      await this.worker.stop();
      await this.secretFiles?.unmountIfUnused();
      await this.networking?.close();
    })();
    return this.stopping;
  }
}

/** The latest samples as one report (undefined before the first round: nothing to tell yet). */
function usageReport(samples: ContainerSample[], allocatable: NodeResources): UsageReport | undefined {
  if (samples.length === 0) return { allocatable, containers: [], sampledAtMs: Math.floor(Date.now() / 5000) * 5000 };
  return {
    allocatable,
    containers: samples.map((s) => ({ taskId: s.taskId, cpu: s.cpuMillicores, memory: s.memoryBytes })),
    sampledAtMs: Math.max(...samples.map((s) => s.readAt)),
  };
}

function createDriver(opts: AgentOptions, network: NodeNetworking | undefined, secrets: SecretFiles | undefined, timings: AgentTimings | undefined): Driver {
  return opts.runtime === Runtime.Docker
    ? new DockerDriver({
        nodeName: opts.nodeName,
        logger: opts.logger,
        ...(opts.dockerSocket ? { socketPath: opts.dockerSocket } : {}),
        ...(network ? { network } : {}),
        ...(opts.bindAllow ? { bindAllow: opts.bindAllow } : {}),
        ...(secrets ? { secrets } : {}),
        ...(timings ? { timings } : {}),
      })
    : new ProcessDriver({ nodeName: opts.nodeName, dataDir: opts.dataDir, logger: opts.logger });
}
