// One agent's measurements, in Prometheus form (prom-client), served by its `--metrics-listen`
// endpoint (endpoint.ts). Each agent has its own registry: `berth server` runs an agent beside the
// control plane, in one process, and their metrics must not mix.
//
// Owns: the agent's instruments and their names (Prometheus conventions: `berth_agent_` prefix,
// base units, `_total` counters). Tasks and container usage are read at scrape time from the
// worker and the container stats; probes, pulls and starts are recorded as they happen.
// Must not: poll anything itself.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskStatusReport } from '../../common/task-status.js';
import type { ContainerSample } from './container-stats.js';

export interface AgentMetricsSources {
  statuses(): TaskStatusReport[];
  /** Undefined: the runtime gives no container stats (process runtime). */
  containers?: () => ContainerSample[];
}

/** What the driver and the task runners record as they work. */
export interface AgentTimings {
  /** An image pull ended (`ok` false: it failed). */
  pull(seconds: number, ok: boolean): void;
  /** A container was created and started (from the create call to the start's answer). */
  containerStart(seconds: number): void;
  /** A health probe of a task of `service` ended. */
  probe(service: string, ok: boolean): void;
}

const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class AgentMetrics implements AgentTimings {
  readonly registry = new Registry();
  private readonly pullSeconds: Histogram<'outcome'>;
  private readonly startSeconds: Histogram;
  private readonly probes: Counter<'service' | 'result'>;

  constructor(sources: AgentMetricsSources) {
    const registers = [this.registry];
    new Gauge({
      name: 'berth_agent_tasks',
      help: 'Tasks this agent runs or ran, by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const r of sources.statuses()) counts.set(r.status.state, (counts.get(r.status.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.probes = new Counter({
      name: 'berth_agent_health_probes_total',
      help: 'Health check probes of the tasks on this node, by service and result (pass, fail)',
      labelNames: ['service', 'result'] as const,
      registers,
    });
    this.pullSeconds = new Histogram({
      name: 'berth_agent_image_pull_duration_seconds',
      help: 'Duration of image pulls, by outcome (ok, failed)',
      labelNames: ['outcome'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.startSeconds = new Histogram({
      name: 'berth_agent_container_start_duration_seconds',
      help: 'Time from creating a task\'s container to its start being answered',
      buckets: DURATION_BUCKETS,
      registers,
    });
    const containers = sources.containers;
    if (!containers) return;
    new Counter({
      name: 'berth_agent_container_cpu_seconds_total',
      help: 'CPU time used by each running task container since it started (Docker Engine stats)',
      labelNames: ['task', 'service'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of containers()) this.inc({ task: c.taskName, service: c.service }, c.cpuSeconds);
      },
    });
    new Gauge({
      name: 'berth_agent_container_memory_bytes',
      help: 'Memory used by each running task container, less inactive page cache (Docker Engine stats)',
      labelNames: ['task', 'service'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of containers()) this.set({ task: c.taskName, service: c.service }, c.memoryBytes);
      },
    });
  }

  pull(seconds: number, ok: boolean): void {
    this.pullSeconds.observe({ outcome: ok ? 'ok' : 'failed' }, seconds);
  }

  containerStart(seconds: number): void {
    this.startSeconds.observe(seconds);
  }

  probe(service: string, ok: boolean): void {
    this.probes.inc({ service, result: ok ? 'pass' : 'fail' });
  }
}
