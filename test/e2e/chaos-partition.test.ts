// Chaos: a network partition done for real. One `berth agent --runtime docker` runs in its own
// network namespace, joined to the server through a veth pair; taking the host end down cuts
// it off without closing anything (packets just stop). The server must mark the node down and
// replace its work on the two other nodes; the cut-off agent must stop (fence) its containers
// after --fence-after; once the link is back the agent reconnects, the control plane's view
// wins (the old containers are stopped and removed) and exactly `replicas` containers run.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { eventually } from '../helpers/etcd.js';
import { listNodes, listTasks, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, docker, ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { createNetns, netnsExists, startAgentInNetns, type Netns } from '../helpers/netns.js';

const REPLICAS = 6;
const GRACE_SECONDS = 2;
const FENCE_AFTER_SECONDS = 6;

const manifest = `apiVersion: berth/v1
kind: Service
metadata:
  name: parted
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sleep", "3600"]
  replicas: ${REPLICAS}
  stopGracePeriodSeconds: 1
  resources:
    cpu: 100m
    memory: 16Mi
`;

const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

/** Running containers of the service across these nodes, as the Docker Engine lists them. */
async function runningContainersOf(service: string, nodes: readonly string[]): Promise<string[]> {
  const out = await docker('ps', '--no-trunc', '--filter', `label=berth.service=${service}`, '--format', '{{.ID}} {{.Label "berth.node"}}');
  return out
    .split('\n')
    .filter(Boolean)
    .filter((l) => nodes.includes(l.split(' ')[1] ?? ''))
    .map((l) => l.split(' ')[0] ?? '');
}

describe('e2e chaos: a partitioned agent (network namespace, docker runtime)', function () {
  this.timeout(300_000);
  let server: TestServer | undefined;
  let netns: Netns | undefined;
  const agents: TestAgent[] = [];
  const names = [testNodeName('part-a'), testNodeName('part-b'), testNodeName('part-c')];
  const [hostA, hostB, cutName] = names as [string, string, string];

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    netns = await createNetns('berth-part');
    const agentPort = await freePort();
    // Later flags win: the agent port is bound on every address, so the namespace can reach it.
    server = await startServer({ extraArgs: ['--heartbeat-grace', String(GRACE_SECONDS), '--agent-listen', `0.0.0.0:${agentPort}`] });
    for (const name of [hostA, hostB]) agents.push(startAgent(server, { name, runtime: 'docker', serverAddress: `127.0.0.1:${agentPort}` }));
    agents.push(
      startAgentInNetns(netns, server, { name: cutName, serverAddress: `${netns.hostAddr}:${agentPort}`, fenceAfterSeconds: FENCE_AFTER_SECONDS }),
    );
    await waitNodesReady(server, agents, 90_000);
  });

  after(async () => {
    if (server) await runBerth(['delete', 'service', 'parted'], { config: server.configPath }).catch(() => undefined);
    for (const a of agents) await a.stop({ signal: 'SIGKILL' }).catch(() => undefined);
    await server?.stop();
    const ns = netns;
    await ns?.remove();
    if (ns) assert.equal(await netnsExists(ns.name), false, `namespace ${ns.name} removed`);
    await removeContainersOfNodes(names);
  });

  it('replaces the cut-off node work, fences it, and ends with exactly the desired replicas once healed', async () => {
    const srv = server!;
    const ns = netns!;
    const cutAgent = agents[2]!;
    const r = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: manifest });
    assert.equal(r.code, 0, r.stderr);
    const nodeIds = await waitNodesReady(srv, agents);
    const cutId = nodeIds.get(cutName)!;

    await eventually(async () => liveRunning(await listTasks(srv, '--service', 'parted')).length === REPLICAS, 120_000, 'all replicas running');
    const before = liveRunning(await listTasks(srv, '--service', 'parted'));
    const onCut = before.filter((t) => t.nodeId === cutId);
    assert.ok(onCut.length > 0, 'the service has tasks on the node about to be cut off');
    const oldContainers = await containersOfNode(cutName, { running: true });
    assert.equal(oldContainers.length, onCut.length, 'one running container per task of the cut-off node');

    await ns.cut();

    // The server: no heartbeat past the grace -> node down, its tasks orphaned and replaced.
    await eventually(async () => (await listNodes(srv)).find((n) => n.name === cutName)?.status.state === 'down', 60_000, `${cutName} down`);
    await eventually(async () => {
      const live = liveRunning(await listTasks(srv, '--service', 'parted'));
      return live.length === REPLICAS && live.every((t) => t.nodeId !== cutId);
    }, 120_000, 'the replicas running on the two other nodes');
    const all = await listTasks(srv, '--service', 'parted');
    for (const t of onCut) assert.equal(all.find((x) => x.id === t.id)?.status.state, 'orphaned', `${t.name} orphaned`);

    // The cut-off agent: after --fence-after without its session it stops its containers (kept).
    await eventually(
      async () => (await containersOfNode(cutName, { running: true })).length === 0,
      120_000,
      `the cut-off agent to stop its containers; it said:\n${cutAgent.logTail()}`,
    );
    assert.match(cutAgent.logTail(), /fencing this node/);
    assert.equal((await containersOfNode(cutName)).length, oldContainers.length, 'fenced containers are stopped, not removed, while cut off');
    const alive = await Promise.race([cutAgent.exit.then(() => 'exited'), Promise.resolve('alive')]);
    assert.equal(alive, 'alive', 'the cut-off agent keeps running (it only fenced its tasks)');

    await ns.restore();

    // Healed: the agent reconnects by itself and the control plane's view wins.
    await waitNodesReady(srv, [cutAgent], 120_000);
    await eventually(
      async () => (await containersOfNode(cutName)).filter((id) => oldContainers.includes(id)).length === 0,
      120_000,
      `the old containers of ${cutName} removed; it said:\n${cutAgent.logTail()}`,
    );

    // Exactly `replicas` everywhere, by docker and by berth, checked a few times over.
    for (let i = 0; i < 5; i++) {
      const containers = await runningContainersOf('parted', names);
      assert.equal(containers.length, REPLICAS, `exactly ${REPLICAS} running containers (sample ${i})`);
      const live = liveRunning(await listTasks(srv, '--service', 'parted'));
      assert.equal(live.length, REPLICAS, `exactly ${REPLICAS} running tasks (sample ${i})`);
      const reported = live.map((t) => t.status.containerId ?? '');
      for (const id of containers) assert.ok(reported.some((c) => c && id.startsWith(c)), `container ${id.slice(0, 12)} is a running task's`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  });
});
