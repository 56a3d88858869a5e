// Real-container overhead: N replicas of berth/web:latest started by Berth (POST /v1/apply, the
// call `berth apply` makes, to a control plane with one real `berth agent --runtime docker`),
// against the same N containers created and started directly through the Docker Engine API
// (concurrently, as the agent does) in the same run. Every container is removed by label.
import { randomBytes } from 'node:crypto';
import { DockerClient } from '../../agent/driver/docker-client.js';
import { cpuSeconds, maxOf, round } from './measure.js';
import { startDockerAgent, startEtcd, startServer, stopAll, type BenchServer } from './procs.js';
import { TaskTracker } from './task-tracker.js';

export const BENCH_IMAGE = 'berth/web:latest';
/** Rounds of the comparison: single rounds' ratios spread over 1.00-1.17x. */
export const DEFAULT_ROUNDS = 5;
const BENCH_LABEL = 'berth.bench';

export interface ContainersResult {
  containers: number;
  completed: boolean;
  /** Median over the rounds: direct Docker Engine API, create + start of all N, concurrently. */
  dockerDirectSeconds: number;
  /** Median over the rounds: Berth, from the apply to every task reported running. */
  berthSeconds: number;
  /** Median of the rounds' berth / direct ratios. */
  overheadRatio: number;
  /** Each round, in the order run (the two sides alternate which goes first). */
  rounds: { dockerDirectSeconds: number; berthSeconds: number; overheadRatio: number }[];
  /** Median CPU seconds Berth's own processes used during a round (apply to all running): what they took from the Engine's 2 cores. */
  berthCpuSeconds: { server: number; agent: number; etcd: number };
}

interface ContainerSummary {
  Id: string;
}

function listByLabel(docker: DockerClient, label: string): Promise<ContainerSummary[]> {
  return docker.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label: [label] }) } });
}

async function removeByLabel(docker: DockerClient, label: string): Promise<void> {
  const list = await listByLabel(docker, label);
  await Promise.all(list.map((c) => docker.raw('DELETE', `/containers/${c.Id}`, { query: { force: true, v: true } })));
}

async function startDirect(docker: DockerClient, count: number, runId: string, tag: string): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { Id } = await docker.json<{ Id: string }>('POST', '/containers/create', {
        query: { name: `bench-direct-${runId}-${tag}-${i}` },
        body: { Image: BENCH_IMAGE, Labels: { [BENCH_LABEL]: runId }, HostConfig: {} },
      });
      await docker.json('POST', `/containers/${Id}/start`);
    }),
  );
  return (performance.now() - t0) / 1000;
}

export async function runContainers(opts: { count: number; rounds?: number; dist?: boolean; progress: (l: string) => void }): Promise<ContainersResult> {
  const docker = new DockerClient();
  const runId = randomBytes(4).toString('hex');
  const nodeName = `bench-docker-${runId}`;
  const rounds: ContainersResult['rounds'] = [];
  const cpuUsed: ContainersResult['berthCpuSeconds'][] = [];
  try {
    // A first container pays for cold caches; neither side should.
    await startDirect(docker, 1, runId, 'warm');
    await removeByLabel(docker, `${BENCH_LABEL}=${runId}`);

    const etcd = await startEtcd();
    const server = await startServer({ etcdUrl: etcd.url, ...(opts.dist ? { dist: true } : {}) });
    const agent = startDockerAgent(server, nodeName);
    const cpuOf = () => ({ server: cpuSeconds(server.child.pid), agent: cpuSeconds(agent.pid), etcd: cpuSeconds(etcd.pid) });
    const tracker = new TaskTracker(etcd.url);
    try {
      const deadline = Date.now() + 60_000;
      while ((await tracker.readyNodes()) < 1) {
        if (Date.now() > deadline) throw new Error('containers: the docker agent did not become ready in 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      await tracker.start();
      const direct = async (r: number) => {
        const s = await startDirect(docker, opts.count, runId, `run${r}`);
        await removeByLabel(docker, `${BENCH_LABEL}=${runId}`);
        return s;
      };
      const berth = (r: number) =>
        berthRound({ server, tracker, docker, nodeName, service: `bench-web-${r}`, count: opts.count, progress: opts.progress, cpu: cpuOf, cpuUsed: (c) => cpuUsed.push(c) });
      // Docker's own time for the same work varies by 20% from one run to the next: several
      // rounds, each side first in turn, and the medians.
      for (let r = 0; r < (opts.rounds ?? DEFAULT_ROUNDS); r++) {
        let d: number;
        let b: number | undefined;
        if (r % 2 === 0) {
          d = await direct(r);
          b = await berth(r);
        } else {
          b = await berth(r);
          d = await direct(r);
        }
        if (b === undefined) return summary(opts.count, rounds, cpuUsed, false);
        rounds.push({ dockerDirectSeconds: round(d, 3), berthSeconds: round(b, 3), overheadRatio: round(b / d, 2) });
        opts.progress(`containers: round ${r + 1}: direct Docker ${d.toFixed(2)} s, Berth ${b.toFixed(2)} s`);
      }
      return summary(opts.count, rounds, cpuUsed, true);
    } finally {
      await tracker.stop().catch(() => undefined);
    }
  } finally {
    await stopAll();
    await removeByLabel(docker, `berth.node=${nodeName}`).catch(() => undefined);
    await removeByLabel(docker, `${BENCH_LABEL}=${runId}`).catch(() => undefined);
  }
}

/** One round through Berth: seconds from the apply to all N running, or undefined if they never were. */
async function berthRound(o: {
  server: BenchServer;
  tracker: TaskTracker;
  docker: DockerClient;
  nodeName: string;
  service: string;
  count: number;
  progress: (l: string) => void;
  cpu: () => ContainersResult['berthCpuSeconds'];
  cpuUsed: (c: ContainersResult['berthCpuSeconds']) => void;
}): Promise<number | undefined> {
  const headers = { authorization: `Bearer ${o.server.token}`, 'content-type': 'application/json' };
  const cpu0 = o.cpu();
  const t0 = performance.now();
  const res = await o.server.fetch(`${o.server.apiUrl}/v1/apply`, {
    method: 'POST',
    headers,
    // A short stop grace: the round ends by deleting the service, and its time is not measured.
    body: JSON.stringify({ items: [{ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: o.service }, spec: { image: BENCH_IMAGE, replicas: o.count, stopGracePeriodSeconds: 1 } }] }),
  });
  if (!res.ok) throw new Error(`containers: apply failed: ${res.status} ${await res.text()}`);
  const runDeadline = Date.now() + 120_000 + o.count * 2000;
  let lastPrint = performance.now();
  while (o.tracker.runningOf(o.service).length < o.count && Date.now() < runDeadline) {
    await new Promise((r) => setTimeout(r, 20));
    if (performance.now() - lastPrint >= 1000) {
      lastPrint = performance.now();
      o.progress(`containers: ${o.tracker.runningOf(o.service).length}/${o.count} running through Berth`);
    }
  }
  const running = o.tracker.runningOf(o.service);
  const seconds = running.length >= o.count ? (maxOf(running) - t0) / 1000 : undefined;
  const cpu1 = o.cpu();
  o.cpuUsed({ server: cpu1.server - cpu0.server, agent: cpu1.agent - cpu0.agent, etcd: cpu1.etcd - cpu0.etcd });
  // Delete the service and wait until its containers are gone, so the next round starts clean.
  const del = await o.server.fetch(`${o.server.apiUrl}/v1/services/${o.service}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
  if (!del.ok) throw new Error(`containers: delete failed: ${del.status} ${await del.text()}`);
  const goneBy = Date.now() + 60_000;
  while ((await listByLabel(o.docker, `berth.node=${o.nodeName}`)).length > 0) {
    if (Date.now() > goneBy) throw new Error(`containers: the containers of ${o.service} were not removed within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seconds;
}

function summary(count: number, rounds: ContainersResult['rounds'], cpuUsed: ContainersResult['berthCpuSeconds'][], completed: boolean): ContainersResult {
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 0;
  };
  return {
    containers: count,
    completed,
    dockerDirectSeconds: round(median(rounds.map((r) => r.dockerDirectSeconds)), 3),
    berthSeconds: round(median(rounds.map((r) => r.berthSeconds)), 3),
    overheadRatio: round(median(rounds.map((r) => r.overheadRatio)), 2),
    rounds,
    berthCpuSeconds: {
      server: round(median(cpuUsed.map((c) => c.server)), 2),
      agent: round(median(cpuUsed.map((c) => c.agent)), 2),
      etcd: round(median(cpuUsed.map((c) => c.etcd)), 2),
    },
  };
}
