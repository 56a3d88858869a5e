// The cluster's state as Prometheus gauges, read from the main thread's caches when Prometheus
// scrapes (nothing is kept up to date between scrapes): tasks by service and state, nodes by
// status and availability, services' desired/running/ready, pending tasks and why, rollouts by
// state, node heartbeat age, leadership, certificate expiry times.
//
// Owns: these gauges' names and labels. Must not: write anything.
import { X509Certificate } from 'node:crypto';
import { Gauge, type Registry } from 'prom-client';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Node, Service, Task } from '../../common/types.js';
import { countService } from '../api/task-counts.js';
import type { Informer } from '../store/informer.js';

export interface ClusterMetricsSources {
  tasks: Informer<Task>;
  nodes: Informer<Node>;
  services: Informer<Service>;
  updates: Informer<UpdateStatus>;
  isLeader(): boolean;
  /** Node id -> when this server last heard from the node (ms since the epoch). */
  lastHeartbeats(): ReadonlyMap<string, number>;
  /** PEM certificates whose expiry is shown, by name (ca, dispatcher, api). */
  certificates: Record<string, string>;
}

const CLUSTER_METRICS = [
  'berth_tasks',
  'berth_pending_tasks',
  'berth_nodes',
  'berth_node_heartbeat_age_seconds',
  'berth_service_desired_tasks',
  'berth_service_running_tasks',
  'berth_service_ready_tasks',
  'berth_rollouts',
  'berth_leader',
  'berth_certificate_expiry_timestamp_seconds',
];

/** What the task gauges show, from one pass over the tasks. */
interface TaskSnapshot {
  /** `service\0state\0desired` -> count. */
  byState: Map<string, number>;
  pendingByReason: Map<string, number>;
  byService: Map<string, Task[]>;
}

/** A scrape reads every gauge at once: the tasks are gone through once for all of them. */
const SNAPSHOT_TTL_MS = 250;

/** Registers the cluster gauges in `registry` (replacing those of a server started before in this process). */
export function registerClusterMetrics(registry: Registry, src: ClusterMetricsSources): void {
  for (const name of CLUSTER_METRICS) registry.removeSingleMetric(name);
  const registers = [registry];
  let snap: { at: number; value: TaskSnapshot } | undefined;
  const tasks = (): TaskSnapshot => {
    const now = Date.now();
    if (snap && now - snap.at < SNAPSHOT_TTL_MS) return snap.value;
    const value: TaskSnapshot = { byState: new Map(), pendingByReason: new Map(), byService: new Map() };
    for (const t of src.tasks.cache.values()) {
      const key = `${t.serviceName}\u0000${t.status.state}\u0000${t.desiredState}`;
      value.byState.set(key, (value.byState.get(key) ?? 0) + 1);
      if (t.status.state === 'pending' && t.desiredState === 'running') {
        const reason = t.status.reason ?? 'none';
        value.pendingByReason.set(reason, (value.pendingByReason.get(reason) ?? 0) + 1);
      }
      const list = value.byService.get(t.serviceName);
      if (list) list.push(t);
      else value.byService.set(t.serviceName, [t]);
    }
    snap = { at: now, value };
    return value;
  };
  new Gauge({
    name: 'berth_tasks',
    help: 'Tasks in the store, by service, observed state and desired state',
    labelNames: ['service', 'state', 'desired_state'] as const,
    registers,
    collect() {
      this.reset();
      for (const [key, n] of tasks().byState) {
        const [service, state, desired_state] = key.split('\u0000') as [string, string, string];
        this.set({ service, state, desired_state }, n);
      }
    },
  });
  new Gauge({
    name: 'berth_pending_tasks',
    help: 'Tasks waiting for a node, by reason (Unschedulable, CrashLoopBackOff, WaitingForDependency, none yet)',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of tasks().pendingByReason) this.set({ reason }, n);
    },
  });
  new Gauge({
    name: 'berth_nodes',
    help: 'Nodes by status and availability',
    labelNames: ['status', 'availability'] as const,
    registers,
    collect() {
      this.reset();
      const by = new Map<string, number>();
      for (const n of src.nodes.cache.values()) {
        const key = `${n.status.state}\u0000${n.availability}`;
        by.set(key, (by.get(key) ?? 0) + 1);
      }
      for (const [key, n] of by) {
        const [status, availability] = key.split('\u0000') as [string, string];
        this.set({ status, availability }, n);
      }
    },
  });
  new Gauge({
    name: 'berth_node_heartbeat_age_seconds',
    help: 'Time since this server last heard from each node with a session on it',
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      const names = new Map([...src.nodes.cache.values()].map((n) => [n.id, n.name]));
      for (const [id, at] of src.lastHeartbeats()) this.set({ node: names.get(id) ?? id }, Math.max(0, now - at) / 1000);
    },
  });
  const serviceGauge = (name: string, help: string, pick: (c: ReturnType<typeof countService>, svc: Service) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['service'] as const,
      registers,
      collect() {
        this.reset();
        const byService = tasks().byService;
        for (const svc of src.services.cache.values()) {
          this.set({ service: svc.metadata.name }, pick(countService(svc, byService.get(svc.metadata.name) ?? []), svc));
        }
      },
    });
  serviceGauge('berth_service_desired_tasks', 'Tasks a service wants: replicas, completions of a job, or its live tasks (global)', (c, svc) =>
    svc.spec.mode === 'global' ? c.tasks : svc.spec.mode === 'job' ? (svc.spec.completions ?? 1) : (svc.spec.replicas ?? 1),
  );
  serviceGauge('berth_service_running_tasks', 'Live tasks of a service that are running', (c) => c.running);
  serviceGauge('berth_service_ready_tasks', 'Running tasks of a service that pass their health check (or have none)', (c) => c.ready);
  new Gauge({
    name: 'berth_rollouts',
    help: 'Rollouts by state (updating, paused, completed, rolled-back, ...)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.reset();
      const by = new Map<string, number>();
      for (const u of src.updates.cache.values()) by.set(u.state, (by.get(u.state) ?? 0) + 1);
      for (const [state, n] of by) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'berth_leader',
    help: '1 if this server leads (runs the orchestrator and scheduler), else 0',
    registers,
    collect() {
      this.set(src.isLeader() ? 1 : 0);
    },
  });
  const expiry = new Gauge({
    name: 'berth_certificate_expiry_timestamp_seconds',
    help: 'When this server\'s certificates end (Unix time), by certificate',
    labelNames: ['certificate'] as const,
    registers,
  });
  for (const [name, pem] of Object.entries(src.certificates)) {
    expiry.set({ certificate: name }, Date.parse(new X509Certificate(pem).validTo) / 1000);
  }
}
