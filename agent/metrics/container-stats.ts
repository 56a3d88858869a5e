// The node's containers' CPU and memory, from the Docker Engine's stats API: every interval, the
// running containers of this node (label berth.node) are listed and each one's stats read once
// (`GET /containers/ID/stats?stream=false`), a few at a time. The latest sample of each container
// is kept; the agent's `/metrics` and the usage reports to the control plane read it.
//
// Owns: polling, and turning the Engine's cumulative figures into rates (cpu) and the figure
// `docker stats` shows (memory less inactive page cache).
// Must not: send anything anywhere, or know about tasks beyond the container's labels.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { DockerClient } from '../driver/docker-client.js';
import { Label } from '../driver/driver.js';

export interface ContainerSample {
  containerId: string;
  taskId: string;
  taskName: string;
  service: string;
  /** CPU time used since the container started, seconds (the Engine's total_usage). */
  cpuSeconds: number;
  /** Millicores, averaged since the previous sample (the first: over the Engine's own ~1 s window). */
  cpuMillicores: number;
  /** Bytes, usage less inactive page cache (as `docker stats`). */
  memoryBytes: number;
  /** When the Engine read it (ms since the epoch). */
  readAt: number;
}

/** The Engine's answer, only the fields read here (cgroup v1 and v2). */
export interface EngineStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
}

interface Summary {
  Id: string;
  Labels?: Record<string, string>;
}

export interface ContainerStatsOptions {
  client: DockerClient;
  nodeName: string;
  logger: Logger;
  /** Default 5 s. */
  intervalMs?: number;
  /** Stats calls in flight at once (each takes the Engine ~1 s); default 8. */
  concurrency?: number;
}

export const DEFAULT_STATS_INTERVAL_MS = 5000;
const DEFAULT_CONCURRENCY = 8;

/** Memory as `docker stats` shows it: usage less the inactive page cache. */
export function memoryOf(s: EngineStats): number {
  const m = s.memory_stats;
  if (!m?.usage) return 0;
  const cache = m.stats?.inactive_file ?? m.stats?.total_inactive_file ?? 0;
  return Math.max(0, m.usage - (cache < m.usage ? cache : 0));
}

/** Millicores from the Engine's own two readings (precpu is ~1 s before cpu), as `docker stats`. */
export function engineCpuMillicores(s: EngineStats): number {
  const cpu = s.cpu_stats;
  const pre = s.precpu_stats;
  const used = (cpu?.cpu_usage?.total_usage ?? 0) - (pre?.cpu_usage?.total_usage ?? 0);
  const system = (cpu?.system_cpu_usage ?? 0) - (pre?.system_cpu_usage ?? 0);
  if (!pre?.cpu_usage?.total_usage || used <= 0 || system <= 0) return 0;
  return Math.round((used / system) * (cpu?.online_cpus || 1) * 1000);
}

/** The next sample, given the previous one of the same container (cpu averaged between them). */
export function sampleOf(c: { containerId: string; taskId: string; taskName: string; service: string }, s: EngineStats, prev: ContainerSample | undefined): ContainerSample {
  const totalNs = s.cpu_stats?.cpu_usage?.total_usage ?? 0;
  const readAt = s.read ? Date.parse(s.read) : Date.now();
  const at = Number.isFinite(readAt) && readAt > 0 ? readAt : Date.now();
  const cpuSeconds = totalNs / 1e9;
  let cpuMillicores = engineCpuMillicores(s);
  if (prev && at > prev.readAt && cpuSeconds >= prev.cpuSeconds) {
    cpuMillicores = Math.round(((cpuSeconds - prev.cpuSeconds) / ((at - prev.readAt) / 1000)) * 1000);
  }
  return { ...c, cpuSeconds, cpuMillicores, memoryBytes: memoryOf(s), readAt: at };
}

export class ContainerStats {
  private samples = new Map<string, ContainerSample>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private readonly log: Logger;
  private warned = false;

  constructor(private readonly opts: ContainerStatsOptions) {
    this.log = opts.logger.child({ component: 'container-stats' });
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs ?? DEFAULT_STATS_INTERVAL_MS);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }

  /** The latest sample of each running container of this node. */
  latest(): ContainerSample[] {
    return [...this.samples.values()];
  }

  /** One round: list, read each, keep only the containers still running. */
  async poll(): Promise<void> {
    const client = this.opts.client;
    let running: Summary[];
    try {
      const filters = JSON.stringify({ label: [`${Label.Node}=${this.opts.nodeName}`], status: ['running'] });
      running = await client.json<Summary[]>('GET', '/containers/json', { query: { filters } });
    } catch (err) {
      if (!this.warned) this.log.warn({ err: errorMessage(err) }, 'cannot list containers for their stats');
      this.warned = true;
      return;
    }
    this.warned = false;
    const next = new Map<string, ContainerSample>();
    const queue = [...running];
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c && !this.stopped; c = queue.shift()) {
        const labels = c.Labels ?? {};
        const taskId = labels[Label.Task];
        if (!taskId) continue;
        try {
          const s = await client.jsonOrUndefined<EngineStats>('GET', `/containers/${c.Id}/stats`, { query: { stream: false } });
          if (!s?.cpu_stats) continue;
          const ref = { containerId: c.Id, taskId, taskName: labels[Label.TaskName] ?? '', service: labels[Label.Service] ?? '' };
          next.set(c.Id, sampleOf(ref, s, this.samples.get(c.Id)));
        } catch (err) {
          this.log.debug({ container: c.Id, err: errorMessage(err) }, 'no stats for container');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(queue.length, this.opts.concurrency ?? DEFAULT_CONCURRENCY) }, worker));
    if (!this.stopped) this.samples = next;
  }
}
