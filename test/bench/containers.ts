// Real-container overhead: N replicas of berth/web:latest started by Berth (POST /v1/apply, the
// call `berth apply` makes, to a control plane with one real `berth agent --runtime docker`),
// against the same N containers created and started directly through the Docker Engine API
// (concurrently, as the agent does) in the same run. Every container is removed by label.
import { randomBytes } from 'node:crypto';
import { DockerClient } from '../../agent/driver/docker-client.js';
import { maxOf, round } from './measure.js';
import { startDockerAgent, startEtcd, startServer, stopAll } from './procs.js';
import { TaskTracker } from './task-tracker.js';

export const BENCH_IMAGE = 'berth/web:latest';
const BENCH_LABEL = 'berth.bench';

export interface ContainersResult {
  containers: number;
  completed: boolean;
  /** Direct Docker Engine API: create + start of all N, concurrently. */
  dockerDirectSeconds: number;
  /** Berth: from the apply to every task reported running. */
  berthSeconds: number;
  /** berthSeconds / dockerDirectSeconds. */
  overheadRatio: number;
}

interface ContainerSummary {
  Id: string;
}

async function removeByLabel(docker: DockerClient, label: string): Promise<void> {
  const list = await docker.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: JSON.stringify({ label: [label] }) } });
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

export async function runContainers(opts: { count: number; dist?: boolean; progress: (l: string) => void }): Promise<ContainersResult> {
  const docker = new DockerClient();
  const runId = randomBytes(4).toString('hex');
  const nodeName = `bench-docker-${runId}`;
  try {
    // A first container pays for cold caches; neither side should.
    await startDirect(docker, 1, runId, 'warm');
    await removeByLabel(docker, `${BENCH_LABEL}=${runId}`);
    const direct = await startDirect(docker, opts.count, runId, 'run');
    opts.progress(`containers: ${opts.count} started directly in ${direct.toFixed(2)} s`);
    await removeByLabel(docker, `${BENCH_LABEL}=${runId}`);

    const etcd = await startEtcd();
    const server = await startServer({ etcdUrl: etcd.url, ...(opts.dist ? { dist: true } : {}) });
    startDockerAgent(server, nodeName);
    const tracker = new TaskTracker(etcd.url);
    try {
      const deadline = Date.now() + 60_000;
      while ((await tracker.readyNodes()) < 1) {
        if (Date.now() > deadline) throw new Error('containers: the docker agent did not become ready in 60 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      await tracker.start();
      const t0 = performance.now();
      const res = await fetch(`${server.apiUrl}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: [{ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'bench-web' }, spec: { image: BENCH_IMAGE, replicas: opts.count } }] }),
      });
      if (!res.ok) throw new Error(`containers: apply failed: ${res.status} ${await res.text()}`);
      const runDeadline = Date.now() + 120_000 + opts.count * 2000;
      let lastPrint = performance.now();
      while (tracker.running < opts.count && Date.now() < runDeadline) {
        await new Promise((r) => setTimeout(r, 20));
        if (performance.now() - lastPrint >= 1000) {
          lastPrint = performance.now();
          opts.progress(`containers: ${tracker.running}/${opts.count} running through Berth`);
        }
      }
      const completed = tracker.running >= opts.count;
      const last = completed ? maxOf(tracker.runningAt.values()) : performance.now();
      const berth = (last - t0) / 1000;
      return {
        containers: opts.count,
        completed,
        dockerDirectSeconds: round(direct, 3),
        berthSeconds: round(berth, 3),
        overheadRatio: round(berth / direct, 2),
      };
    } finally {
      await tracker.stop().catch(() => undefined);
    }
  } finally {
    await stopAll();
    await removeByLabel(docker, `berth.node=${nodeName}`).catch(() => undefined);
    await removeByLabel(docker, `${BENCH_LABEL}=${runId}`).catch(() => undefined);
  }
}
