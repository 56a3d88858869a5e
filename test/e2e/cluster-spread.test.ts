// A cluster of real processes: `berth server --no-agent` and three `berth agent --runtime docker`
// (zone=a, zone=b, zone=b). A 6-replica web service spreads 2 per node as Docker containers that
// answer HTTP on their published ports; scaling down and up follows; deleting removes them all.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, ok, runBerth, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { containersOfNode, inspectContainer, WEB_IMAGE } from '../helpers/docker.js';

const WEB = `apiVersion: berth/v1
kind: Service
metadata:
  name: web
spec:
  image: ${WEB_IMAGE}
  replicas: 6
  ports:
    - containerPort: 8080
      hostPort: 0
  resources:
    cpu: 100m
    memory: 32Mi
  stopGracePeriodSeconds: 2
`;

describe('e2e cluster: replicas spread over three docker agents', function () {
  this.timeout(240_000);
  let cluster: TestCluster | undefined;
  let names: string[] = [];
  const zones = ['a', 'b', 'b'];
  let server: TestServer | undefined;
  let agents: TestAgent[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });

  /** Running containers per node name. */
  const runningPerNode = async () => {
    const counts = new Map<string, string[]>();
    for (const n of names) counts.set(n, await containersOfNode(n, { running: true }));
    return counts;
  };
  const total = (m: Map<string, string[]>) => [...m.values()].reduce((s, ids) => s + ids.length, 0);
  const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

  /** Waits until exactly `n` containers run on these nodes and `n` tasks report running. */
  const settle = async (n: number): Promise<Map<string, string[]>> =>
    eventually<Map<string, string[]> | undefined>(
      async () => {
        const perNode = await runningPerNode();
        const tasks = await listTasks(server!);
        return total(perNode) === n && liveRunning(tasks).length === n && tasks.filter((t) => t.desiredState === 'running').length === n
          ? perNode
          : undefined;
      },
      120_000,
      `${n} running containers and tasks on ${names.join(', ')}`,
    ).then((m) => m ?? new Map());

  before(async function () {
    this.timeout(300_000);
    const agentsOpts = ['n1', 'n2', 'n3'].map((name, i) => ({ name, labels: `zone=${zones[i]}`, cpu: '2', memory: '1Gi' }));
    cluster = await startCluster({ agents: agentsOpts, readyTimeoutMs: 60_000 });
    ({ server, agents, nodeNames: names } = cluster);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('6 replicas: 6 labelled containers, 2 per node, each answering HTTP 200 on its host port', async () => {
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: WEB }));
    const perNode = await settle(6);
    assert.deepEqual(names.map((n) => perNode.get(n)?.length), [2, 2, 2], 'two containers on each node');

    const tasks = liveRunning(await listTasks(server!));
    const nodeIds = await waitNodesReady(server!, agents);
    const nameOfNode = new Map([...nodeIds].map(([name, id]) => [id, name]));
    for (const [node, ids] of perNode) {
      for (const id of ids) {
        const c = await inspectContainer(id);
        const labels = c.Config.Labels;
        assert.equal(labels['berth.node'], node);
        assert.equal(labels['berth.service'], 'web');
        const task = tasks.find((t) => t.id === labels['berth.task']);
        assert.ok(task, `container ${id.slice(0, 12)} belongs to a running task (berth.task=${labels['berth.task']})`);
        assert.equal(nameOfNode.get(task.nodeId ?? ''), node, 'the task is assigned to the node whose agent runs it');
        assert.ok(task.status.containerId && id.startsWith(task.status.containerId.slice(0, 12)), 'the task reports this container');
      }
    }

    for (const t of tasks) {
      const bound = t.status.hostPorts?.find((p) => p.containerPort === 8080);
      assert.ok(bound && bound.hostPort > 0, `task ${t.name} reports its host port`);
      const status = await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${bound.hostPort}/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.status;
      }, 30_000, `HTTP on 127.0.0.1:${bound.hostPort} (${t.name})`);
      assert.equal(status, 200, `${t.name} on port ${bound.hostPort}`);
    }
  });

  it('scale to 2 leaves 2 containers; scale to 8 spreads them 3/3/2', async () => {
    assert.equal(ok(await berth('scale', 'service', 'web', '--replicas', '2')).stdout, 'service/web scaled to 2 replicas\n');
    await settle(2);

    ok(await berth('scale', 'service', 'web', '--replicas', '8'));
    const perNode = await settle(8);
    const spread = names.map((n) => perNode.get(n)?.length ?? 0).sort();
    assert.deepEqual(spread, [2, 3, 3], `spread over the nodes: ${names.map((n) => `${n}=${perNode.get(n)?.length}`).join(' ')}`);
  });

  it('delete service leaves no container on any node', async () => {
    assert.equal(ok(await berth('delete', 'service', 'web')).stdout, 'service/web deleted\n');
    await eventually(
      async () => {
        for (const n of names) if ((await containersOfNode(n)).length) return false;
        return (await listTasks(server!).catch(() => undefined))?.length === 0;
      },
      120_000,
      'every container of these nodes and every task removed',
    );
  });
});
