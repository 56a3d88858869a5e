// The process's own measurements, in Prometheus form (prom-client): what code records as it
// works (etcd request latency, controller pass durations, scheduling latency, restarts, API
// requests). Each thread has its own copy of this module and so its own registry; the API thread
// adds the main thread's (relay.ts) when it answers `GET /metrics`, summing what both measured.
//
// Owns: the instruments and their names (Prometheus conventions: `berth_` prefix, base units,
// `_total` counters). Must not: read cluster state (cluster.ts does, at scrape time).
import { Counter, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const etcdRequestSeconds = new Histogram({
  name: 'berth_etcd_request_duration_seconds',
  help: 'Duration of the requests to etcd, by operation (range, txn, delete_range, lease_*)',
  labelNames: ['op'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const controllerPassSeconds = new Histogram({
  name: 'berth_controller_pass_duration_seconds',
  help: 'Duration of one pass of a controller (plan and write), by controller',
  labelNames: ['controller'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const schedulingLatencySeconds = new Histogram({
  name: 'berth_scheduling_latency_seconds',
  help: 'Time from a task\'s creation to its placement on a node',
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

export const taskRestartsTotal = new Counter({
  name: 'berth_task_restarts_total',
  help: 'Tasks that ended by themselves and were replaced in their slot (restart policy), by service',
  labelNames: ['service'] as const,
  registers: [registry],
});

export const apiRequestSeconds = new Histogram({
  name: 'berth_api_request_duration_seconds',
  help: 'Duration of the API\'s answers, by route, method and status code',
  labelNames: ['route', 'method', 'code'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
