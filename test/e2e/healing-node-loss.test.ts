// Losing a node: a server (heartbeat grace 2 s) and three `berth agent --runtime docker`
// processes; one agent is killed with SIGKILL. Its tasks must be replaced on the two others,
// the node shown `down`, and the tasks of a service pinned to a surviving node left untouched.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

const manifests = (pinnedNode: string) => `apiVersion: berth/v1
kind: Service
metadata:
  name: spread
spec:
  image: berth/busybox:latest
  command: ["sleep", "600"]
  replicas: 6
  stopGracePeriodSeconds: 1
  resources:
    cpu: 100m
    memory: 16Mi
---
apiVersion: berth/v1
kind: Service
metadata:
  name: pinned
spec:
  image: berth/busybox:latest
  command: ["sleep", "600"]
  replicas: 2
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name == ${pinnedNode}"]
`;

const liveRunning = (tasks: Task[], service: string) =>
  tasks.filter((t) => t.serviceName === service && t.desiredState === 'running' && t.status.state === 'running');

describe('e2e: a node is lost (docker runtime)', function () {
  this.timeout(180_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;
  let agents: TestAgent[] = [];
  let names: string[] = [];

  before(async () => {
    const agent = (name: string) => ({ name, cpu: '2', memory: '2Gi' });
    cluster = await startCluster({
      prefix: 'heal',
      agents: [agent('a'), agent('b'), agent('c')],
      serverArgs: ['--heartbeat-grace', process.env.HEAL_GRACE_SECONDS ?? '2'],
      readyTimeoutMs: 60_000,
    });
    ({ server, agents, nodeNames: names } = cluster);
  });

  after(async () => {
    // Surviving agents stop and remove their containers themselves once the tasks are gone; the
    // killed agent's containers keep running and are removed by the cluster's cleanup.
    await cluster?.stop({ services: ['spread', 'pinned'] });
  });

  it('replaces the lost node tasks on the others, shows it down, and leaves other nodes alone', async () => {
    const srv = server!;
    const [victimName, pinnedName] = names as [string, string, string];
    const r = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: manifests(pinnedName) });
    assert.equal(r.code, 0, r.stderr);
    const nodeIds = await waitNodesReady(srv, agents);
    const victimId = nodeIds.get(victimName)!;

    await eventually(async () => {
      const all = await listTasks(srv);
      return liveRunning(all, 'spread').length === 6 && liveRunning(all, 'pinned').length === 2;
    }, 90_000, 'all tasks running');
    const before = await listTasks(srv);
    const lost = liveRunning(before, 'spread').filter((t) => t.nodeId === victimId);
    assert.ok(lost.length > 0, 'the spread service has tasks on the node about to be lost');
    const pinnedBefore = liveRunning(before, 'pinned').map((t) => [t.id, t.status.containerId]).sort();

    const killedAt = Date.now();
    await agents[0]!.stop({ signal: 'SIGKILL' });

    const running: Task[] = await eventually(async () => {
      const all = await listTasks(srv);
      const live = liveRunning(all, 'spread');
      return live.length === 6 && live.every((t) => t.nodeId !== victimId) ? all : undefined;
    }, 60_000, 'spread tasks running on the two other nodes') ?? [];
    // Speed is not asserted (see the benchmarks); the figure, from the agents' own timestamps of
    // the replacements' `running`, helps when reading a run.
    const replacements = liveRunning(running, 'spread').filter((t) => !before.some((b) => b.id === t.id));
    const lastRunningAt = Math.max(...replacements.map((t) => Date.parse(t.status.timestamp)));
    process.stdout.write(`      agent killed -> ${replacements.length} replacements running: ${lastRunningAt - killedAt} ms\n`);

    for (const t of lost) {
      const now = running.find((x) => x.id === t.id);
      assert.equal(now?.status.state, 'orphaned', `${t.name} is orphaned`);
      assert.equal(now?.status.message, `node ${victimName} is down`);
    }

    const nodes = await runBerth(['get', 'nodes'], { config: srv.configPath });
    assert.match(nodes.stdout, new RegExp(`^${victimName} +down `, 'm'));

    const pinnedAfter = liveRunning(running, 'pinned').map((t) => [t.id, t.status.containerId]).sort();
    assert.deepEqual(pinnedAfter, pinnedBefore, 'the pinned service tasks did not move');
  });
});
