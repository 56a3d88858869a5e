// One size of the hollow-node benchmark: a fresh etcd and control plane, N hollow nodes, then
// services adding up to M tasks applied in one call, timed until the last task is reported
// running, with API calls at a fixed rate meanwhile. With `servers` > 1, that many servers share
// the etcd (the first leads): the hollow runners, the harness's applies and the API load are
// spread over them, and the control plane's CPU is their sum, its RSS the largest.
import { getPriority, loadavg } from 'node:os';
import { apiStats, ApiCallKind, probeService, type ApiSample, type ApiStats } from './api-load.js';
import { cpuSeconds, etcdDbBytes, maxOf, percentile, round, rssBytes } from './measure.js';
import { startApiLoad, startEtcd, startHollow, startServer, stopAll, type Child } from './procs.js';
import { TaskTracker } from './task-tracker.js';

/** Services per `POST /v1/apply` (the API refuses more than 42 changed services in one). */
const SERVICES_PER_APPLY = 25;

export interface SizeOptions {
  nodes: number;
  tasks: number;
  /** Hollow-node runner processes (default: one per 2,500 nodes). */
  hollowProcs?: number;
  /** Run the hollow runners at this lower CPU priority (`nice`, 1-19; default 0, not niced). */
  hollowNice?: number;
  dist?: boolean;
  cpuProfDir?: string;
  /** The tree whose server and hollow runners run (default this one; see run.ts --compare-tree). */
  root?: string;
  /** Give up on a size after this long from the apply (default 60 s + 5 ms per task). */
  timeoutMs?: number;
  /** Servers sharing the etcd (default 1). */
  servers?: number;
  progress: (line: string) => void;
}

/** With the API load's figures over the run. */
export interface SizeResult extends ApiStats {
  nodes: number;
  tasks: number;
  /** Servers sharing the etcd (the control plane's CPU is their sum, its RSS the largest). */
  servers: number;
  /** The tree measured (its directory), and the machine's 1-minute load average as the size began. */
  tree: string;
  loadAverage1m: number;
  completed: boolean;
  tasksRunning: number;
  secondsToAllRunning: number;
  placementsPerSecond: number;
  /** From the apply to the last task assigned a node (scheduler throughput without the agents). */
  secondsToAllAssigned: number;
  /** Per task: first seen in etcd to reported running. */
  taskStartP50Ms: number;
  taskStartP99Ms: number;
  secondsToNodesReady: number;
  /** The same, unrounded: every node joined (CSR, certificate) and its session up. */
  joinSeconds: number;
  /** CPU per node while they joined: the server's from the first hollow start, the runners' whole (start-up included). */
  joinCpuMsPerNode: number;
  joinServerCpuMsPerNode: number;
  joinHollowCpuMsPerNode: number;
  controlPlanePeakRssBytes: number;
  /** CPU the control plane used from the apply to all running. */
  controlPlaneCpuSeconds: number;
  etcdCpuSeconds: number;
  hollowCpuSeconds: number;
  /** CPU of the harness itself (its watch of every task) over the same span: the observer's share of the machine. */
  harnessCpuSeconds: number;
  hollowPeakRssBytes: number;
  etcdDbBytes: number;
  hollowProcesses: number;
  /** The hollow runners' nice value, read from the processes (0: same priority as the control plane and etcd). */
  hollowNice: number;
  /** Nodes declared down and tasks orphaned during the run (both should be 0). */
  nodeDownEvents: number;
  taskOrphanedEvents: number;
  /** Cumulative created / assigned / running per second from the apply. */
  /** The server's RSS once every node was ready, before the first apply: the cost of the nodes alone. */
  controlPlaneRssNodesReadyBytes: number;
  /** The server's peak RSS up to then (registration of every node included). */
  controlPlanePeakRssNodesReadyBytes: number;
  timeline: { second: number; created: number; assigned: number; running: number }[];
  /** `GET /metrics` of the leading server once every task ran: METRICS_SCRAPES scrapes in a row. */
  metricsScrapeP50Ms?: number;
  metricsScrapeMaxMs?: number;
  /** The server's own time for the scrape (its `server-timing`), p50. */
  metricsScrapeServerP50Ms?: number;
  metricsBytes?: number;
  /** Samples (lines that are not comments) in one scrape. */
  metricsSamples?: number;
  /** Every API call: kind, start (seconds after the apply), duration, status. */
  apiCallsTimeline: { kind: string; at: number; ms: number; serverMs?: number; status: number }[];
}

const REPLICAS_PER_SERVICE = 1000;

export function benchServices(tasks: number): object[] {
  const out: object[] = [];
  for (let i = 0, left = tasks; left > 0; i++, left -= REPLICAS_PER_SERVICE) {
    out.push({
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name: `bench-${i}`, labels: { bench: 'hollow' } },
      spec: { image: 'berth/web:latest', replicas: Math.min(REPLICAS_PER_SERVICE, left), resources: { cpu: '10m', memory: '16Mi' } },
    });
  }
  return out;
}

/** Scrapes for the `/metrics` figures (after one unmeasured), one a second as a steady Prometheus would. */
const METRICS_SCRAPES = 10;
/** The scrapes begin this long after the last task ran, once the control plane has settled. */
const METRICS_SETTLE_MS = 5000;

/**
 * `GET /metrics` as Prometheus does it: its duration (client side), size and number of samples;
 * undefined for a tree from before `/metrics` (`--compare-tree`).
 */
async function scrapeMetrics(server: { apiUrl: string; token: string; fetch: typeof fetch }): Promise<{ p50Ms: number; maxMs: number; serverP50Ms: number; bytes: number; samples: number } | undefined> {
  const once = async () => {
    const t = performance.now();
    const res = await server.fetch(`${server.apiUrl}/metrics`, { headers: { authorization: `Bearer ${server.token}` } });
    const body = await res.text();
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${body.slice(0, 200)}`);
    const serverMs = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
    return { ms: performance.now() - t, serverMs, body };
  };
  await new Promise((r) => setTimeout(r, METRICS_SETTLE_MS));
  if (!(await once())) return undefined;
  const times: number[] = [];
  const serverTimes: number[] = [];
  let body = '';
  for (let i = 0; i < METRICS_SCRAPES; i++) {
    const r = (await once())!;
    times.push(r.ms);
    if (Number.isFinite(r.serverMs)) serverTimes.push(r.serverMs);
    body = r.body;
    await new Promise((res) => setTimeout(res, 1000));
  }
  return {
    p50Ms: round(percentile(times, 50), 1),
    maxMs: round(Math.max(...times), 1),
    serverP50Ms: round(percentile(serverTimes, 50), 1),
    bytes: Buffer.byteLength(body),
    samples: body.split('\n').filter((l) => l && !l.startsWith('#')).length,
  };
}

export async function runSize(opts: SizeOptions): Promise<SizeResult> {
  const { nodes, tasks } = opts;
  const label = `${nodes}x${tasks}`;
  const etcd = await startEtcd();
  const loadAverage1m = round(loadavg()[0] ?? 0, 2);
  const serverCount = Math.max(1, opts.servers ?? 1);
  const serverOpts = {
    etcdUrl: etcd.url,
    ...(opts.dist ? { dist: true } : {}),
    ...(opts.cpuProfDir ? { cpuProfDir: opts.cpuProfDir } : {}),
    ...(opts.root ? { root: opts.root } : {}),
  };
  // The first server leads (it wins the first campaign); the others share its CA and tokens.
  const server = await startServer({ ...serverOpts, ...(serverCount > 1 ? { name: 'cp-1' } : {}) });
  const servers = [server, ...(await Promise.all(Array.from({ length: serverCount - 1 }, (_, i) => startServer({ ...serverOpts, name: `cp-${i + 2}`, tokensFrom: server }))))];
  const serversCpu = () => servers.reduce((sum, x) => sum + cpuSeconds(x.child.pid), 0);
  const serversRss = (current?: boolean) => Math.max(...servers.map((x) => rssBytes(x.child.pid, current)));
  const tracker = new TaskTracker(etcd.url);
  try {
    // At least one runner per server, each joining one server in turn.
    const procs = Math.max(serverCount, Math.min(nodes, opts.hollowProcs ?? Math.ceil(nodes / 2500)));
    const hollow: Child[] = [];
    const tNodes = performance.now();
    const serverCpuBeforeJoin = serversCpu();
    const per = Math.ceil(nodes / procs);
    const starting: Promise<Child>[] = [];
    for (let first = 0, k = 0; first < nodes; first += per, k++) {
      starting.push(startHollow(servers[k % serverCount]!, Math.min(per, nodes - first), first, opts.hollowNice ?? 0, opts.root));
    }
    hollow.push(...(await Promise.all(starting)));
    const nodesDeadline = Date.now() + 60_000 + nodes * 30;
    // Polled every 500 ms (the join time is a figure of its own), reported every second.
    for (let polls = 0; ; polls++) {
      const ready = await tracker.readyNodes();
      if (ready >= nodes) break;
      if (Date.now() > nodesDeadline) throw new Error(`${label}: only ${ready}/${nodes} nodes ready`);
      if (polls % 2 === 0) opts.progress(`${label}: ${ready}/${nodes} nodes ready`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Read back from the running processes, so the figure says what they ran at.
    const hollowNice = Math.min(...hollow.map((h) => getPriority(h.pid)));
    const secondsToNodesReady = (performance.now() - tNodes) / 1000;
    const joinServerCpu = serversCpu() - serverCpuBeforeJoin;
    const joinHollowCpu = hollow.reduce((sum, h) => sum + cpuSeconds(h.pid), 0);
    const rssAtNodesReady = serversRss(true);
    const peakRssAtNodesReady = serversRss();
    opts.progress(`${label}: ${nodes} nodes ready in ${secondsToNodesReady.toFixed(1)} s; applying ${tasks} tasks`);
    await tracker.start();
    // The probe service the API load reads and rewrites must exist before the first GET.
    const probe = await server.fetch(`${server.apiUrl}/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [probeService(-1)] }),
    });
    if (!probe.ok) throw new Error(`${label}: probe apply failed: ${probe.status} ${await probe.text()}`);

    // CPU of each process so far; the harness (this process) too, its watch of every task being a share of the cores.
    const cpuNow = () => ({
      cp: serversCpu(),
      etcd: cpuSeconds(etcd.pid),
      hollow: hollow.reduce((s, h) => s + cpuSeconds(h.pid), 0),
      harness: cpuSeconds(process.pid),
    });
    const cpu0 = cpuNow();
    const load = await startApiLoad(servers, etcd.url);
    const bulk: ApiSample[] = [];
    const t0 = performance.now();
    const t0Epoch = Date.now();
    // The API takes a bounded number of changed services per apply (each also writes a revision
    // and a rollout in the same transaction): the services go in consecutive applies.
    const services = benchServices(tasks);
    for (let i = 0; i < services.length; i += SERVICES_PER_APPLY) {
      const t = performance.now();
      const startedAt = Date.now();
      const to = servers[(i / SERVICES_PER_APPLY) % serverCount]!;
      const res = await to.fetch(`${to.apiUrl}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${to.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: services.slice(i, i + SERVICES_PER_APPLY) }),
      });
      bulk.push({ kind: ApiCallKind.BulkApply, startedAt, ms: performance.now() - t, ok: res.ok, status: res.status });
      if (!res.ok) throw new Error(`${label}: apply failed: ${res.status} ${await res.text()}`);
    }

    const deadline = Date.now() + (opts.timeoutMs ?? 60_000 + tasks * 5);
    let lastPrint = 0;
    while (tracker.running < tasks && Date.now() < deadline && servers.every((x) => x.child.proc.exitCode === null)) {
      await new Promise((r) => setTimeout(r, 50));
      if (performance.now() - lastPrint >= 1000) {
        lastPrint = performance.now();
        opts.progress(`${label}: ${((lastPrint - t0) / 1000).toFixed(1)} s, ${tracker.assigned}/${tasks} assigned, ${tracker.running}/${tasks} running`);
      }
    }
    const completed = tracker.running >= tasks;
    const lastRunning = completed ? maxOf(tracker.runningAt.values()) : performance.now();
    const lastAssigned = tracker.assigned ? maxOf(tracker.assignedAt.values()) : performance.now();
    const cpu1 = cpuNow();
    const samples = [...(await load.stop()), ...bulk];
    const scrape = await scrapeMetrics(server);
    if (scrape) opts.progress(`${label}: GET /metrics p50 ${scrape.p50Ms} ms (server ${scrape.serverP50Ms} ms), max ${scrape.maxMs} ms, ${(scrape.bytes / 1024).toFixed(0)} KiB, ${scrape.samples} samples`);
    const seconds = (lastRunning - t0) / 1000;
    const startMs = [...tracker.runningAt].map(([id, at]) => at - (tracker.firstSeen.get(id) ?? at));
    const result: SizeResult = {
      nodes,
      tasks,
      servers: serverCount,
      tree: opts.root ?? 'this',
      loadAverage1m,
      completed,
      tasksRunning: tracker.running,
      secondsToAllRunning: round(seconds, 2),
      placementsPerSecond: round(tracker.running / seconds, 0),
      secondsToAllAssigned: round((lastAssigned - t0) / 1000, 2),
      taskStartP50Ms: percentile(startMs, 50),
      taskStartP99Ms: percentile(startMs, 99),
      secondsToNodesReady: round(secondsToNodesReady, 1),
      joinSeconds: round(secondsToNodesReady, 2),
      joinCpuMsPerNode: round(((joinServerCpu + joinHollowCpu) * 1000) / nodes, 2),
      joinServerCpuMsPerNode: round((joinServerCpu * 1000) / nodes, 2),
      joinHollowCpuMsPerNode: round((joinHollowCpu * 1000) / nodes, 2),
      ...apiStats(samples),
      controlPlanePeakRssBytes: serversRss(),
      controlPlaneRssNodesReadyBytes: rssAtNodesReady,
      controlPlanePeakRssNodesReadyBytes: peakRssAtNodesReady,
      controlPlaneCpuSeconds: round(cpu1.cp - cpu0.cp, 2),
      etcdCpuSeconds: round(cpu1.etcd - cpu0.etcd, 2),
      hollowCpuSeconds: round(cpu1.hollow - cpu0.hollow, 2),
      harnessCpuSeconds: round(cpu1.harness - cpu0.harness, 2),
      hollowPeakRssBytes: Math.max(...hollow.map((h) => rssBytes(h.pid))),
      etcdDbBytes: await etcdDbBytes(etcd.url),
      hollowProcesses: hollow.length,
      hollowNice,
      ...(await tracker.eventCounts(['NodeDown', 'TaskOrphaned']).then((c) => ({ nodeDownEvents: c.NodeDown ?? 0, taskOrphanedEvents: c.TaskOrphaned ?? 0 }))),
      timeline: tracker.timeline(t0, lastRunning),
      ...(scrape
        ? { metricsScrapeP50Ms: scrape.p50Ms, metricsScrapeMaxMs: scrape.maxMs, metricsScrapeServerP50Ms: scrape.serverP50Ms, metricsBytes: scrape.bytes, metricsSamples: scrape.samples }
        : {}),
      apiCallsTimeline: samples
        .map((c) => ({ kind: c.kind, at: round((c.startedAt - t0Epoch) / 1000, 2), ms: round(c.ms, 1), ...(c.serverMs !== undefined ? { serverMs: c.serverMs } : {}), status: c.status ?? 0 }))
        .sort((a, b) => a.at - b.at),
    };
    if (!completed) opts.progress(`${label}: gave up with ${tracker.running}/${tasks} running`);
    return result;
  } finally {
    await tracker.stop().catch(() => undefined);
    // Hollow nodes first (newest first), then the server (which writes its CPU profile), then etcd.
    await stopAll();
  }
}
