// Chaos: draining a node under load. Three docker agents run a service with
// `update.parallelism: 1` and an HTTP health check (so readiness is real); one node is drained
// while a sampler reads the service's tasks through the API about every 100 ms. At no sampled
// moment may the service have fewer than replicas - 1 running (nor ready) tasks, and at the end
// every task of the service runs on the other nodes, and nothing runs on the drained one.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { containersOfNode, WEB_IMAGE } from '../helpers/docker.js';
import { startSampler as sampleEvery } from '../helpers/sampler.js';

const REPLICAS = 6;

const manifest = `apiVersion: berth/v1
kind: Service
metadata:
  name: drained
spec:
  image: ${WEB_IMAGE}
  replicas: ${REPLICAS}
  stopGracePeriodSeconds: 1
  resources:
    cpu: 100m
    memory: 16Mi
  update:
    parallelism: 1
  healthCheck:
    http: { port: 8080, path: /index.html }
    intervalSeconds: 0.5
    timeoutSeconds: 1
    failureThreshold: 2
`;

const isRunning = (t: Task) => t.status.state === 'running';
const isReady = (t: Task) => isRunning(t) && t.status.health === 'healthy';

interface Sample {
  at: number;
  running: number;
  ready: number;
}

/** Reads the service's tasks through the API every ~100 ms until stopped. */
function startSampler(server: TestServer, service: string): { stop(): Promise<Sample[]> } {
  return sampleEvery(async () => {
    const res = await server.fetch(`${server.url}/v1/tasks?service=${service}`, {
      headers: { authorization: `Bearer ${server.token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) return undefined;
    const { items } = (await res.json()) as { items: Task[] };
    return { running: items.filter(isRunning).length, ready: items.filter(isReady).length };
  });
}

describe('e2e chaos: draining a node under a service with update.parallelism 1 (docker runtime)', function () {
  this.timeout(300_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;
  let agents: TestAgent[] = [];
  let names: string[] = [];

  before(async function () {
    this.timeout(120_000);
    cluster = await startCluster({ prefix: 'drain', agents: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    ({ server, agents, nodeNames: names } = cluster);
  });

  after(async () => {
    await cluster?.stop({ services: ['drained'] });
  });

  it('never has fewer than replicas - 1 running, and ends with every task on the other nodes', async () => {
    const srv = server!;
    const r = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: manifest });
    assert.equal(r.code, 0, r.stderr);
    const nodeIds = await waitNodesReady(srv, agents);
    await eventually(async () => {
      const tasks = await listTasks(srv, '--service', 'drained');
      return tasks.filter((t) => t.desiredState === 'running' && isReady(t)).length === REPLICAS;
    }, 120_000, `${REPLICAS} ready`);

    // Drain the node with the most tasks of the service.
    const live = (await listTasks(srv, '--service', 'drained')).filter((t) => t.desiredState === 'running');
    const [victimName] = [...names].sort((a, b) => live.filter((t) => t.nodeId === nodeIds.get(b)).length - live.filter((t) => t.nodeId === nodeIds.get(a)).length);
    const victimId = nodeIds.get(victimName!)!;
    const moving = live.filter((t) => t.nodeId === victimId);
    assert.ok(moving.length >= 2, `the drained node holds at least 2 tasks (${moving.length}), so parallelism matters`);

    const sampler = startSampler(srv, 'drained');
    let samples: Sample[] = [];
    try {
      await new Promise((res) => setTimeout(res, 500));
      const d = await runBerth(['node', 'drain', victimName!], { config: srv.configPath });
      assert.equal(d.code, 0, d.stderr);
      await eventually(async () => {
        const tasks = await listTasks(srv, '--service', 'drained');
        const wanted = tasks.filter((t) => t.desiredState === 'running');
        return wanted.length === REPLICAS && wanted.every((t) => t.nodeId !== victimId && isReady(t)) && !tasks.some((t) => t.nodeId === victimId && isRunning(t));
      }, 180_000, `every task of the service ready on the other nodes`);
      await new Promise((res) => setTimeout(res, 500));
    } finally {
      samples = await sampler.stop();
    }

    assert.ok(samples.length >= 20, `enough samples taken (${samples.length})`);
    const minRunning = Math.min(...samples.map((s) => s.running));
    const minReady = Math.min(...samples.map((s) => s.ready));
    process.stdout.write(`      ${samples.length} samples: min running ${minRunning}, min ready ${minReady} of ${REPLICAS}\n`);
    assert.ok(minRunning >= REPLICAS - 1, `running never below ${REPLICAS - 1}: min ${minRunning}`);
    assert.ok(minReady >= REPLICAS - 1, `ready never below ${REPLICAS - 1}: min ${minReady}`);

    // Nothing of the service runs on the drained node, by berth and by docker.
    await eventually(async () => (await containersOfNode(victimName!, { running: true })).length === 0, 60_000, 'no container running on the drained node');
    const nodes = await runBerth(['get', 'nodes'], { config: srv.configPath });
    assert.match(nodes.stdout, new RegExp(`^${victimName} +ready +drain `, 'm'));
  });
});
