// The must-hold of agents: stopping an agent never stops its containers, and an agent that
// comes back (a restart with the same name, or a dropped connection) adopts what runs instead
// of starting twins. Real server, real docker agent; the agent joins through a TCP proxy the
// test can cut. The server's heartbeat grace is long so that a restart is never seen as a dead
// node (that path replaces tasks on purpose and is not what is tested here).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { listNodes, listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { containersOfNode, ensureTestImages, inspectContainer, removeContainersOfNodes } from '../helpers/docker.js';

const SLEEPER = sleeperManifest('sleeper', { replicas: 3, memory: '16Mi', stopGracePeriodSeconds: 1 });

/** A TCP proxy to `target` whose connections the test can cut, counting the ones it accepted. */
class CuttableProxy {
  accepted = 0;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CuttableProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const proxy = new CuttableProxy(server, typeof addr === 'object' && addr ? addr.port : 0);
    server.on('connection', (client) => {
      proxy.accepted += 1;
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          proxy.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    return proxy;
  }

  /** Drops every open connection, as a network failure would. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('e2e cluster: an agent restarted or reconnected adopts its containers', function () {
  this.timeout(240_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-n1`;
  let server: TestServer | undefined;
  let proxy: CuttableProxy | undefined;
  let agent: TestAgent | undefined;
  let dataDir: string | undefined;
  let nodeId: string | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const live = async () => (await listTasks(server!, '--service', 'sleeper')).filter((t) => t.desiredState === 'running');
  const join = () => {
    agent = startAgent(server!, {
      name: nodeName,
      runtime: 'docker',
      dataDir,
      serverAddress: `127.0.0.1:${proxy!.port}`,
      cpu: '2',
      memory: '1Gi',
    });
    dataDir = agent.dataDir;
    return agent;
  };
  /** Waits for exactly `n` running tasks and `n` running containers of the node, one per task. */
  const settled = async (n: number): Promise<{ tasks: Task[]; containers: string[] }> => {
    const r = await eventually(async () => {
      const tasks = await live();
      const containers = await containersOfNode(nodeName);
      const running = await containersOfNode(nodeName, { running: true });
      if (tasks.length !== n || !tasks.every((t) => t.status.state === 'running')) return undefined;
      if (containers.length !== n || running.length !== n) return undefined;
      return { tasks, containers };
    }, 120_000, `${n} running tasks and ${n} containers on ${nodeName}; agent said:\n${agent?.logTail()}`);
    if (!r) throw new Error('unreachable');
    return r;
  };

  before(async function () {
    this.timeout(300_000);
    await ensureTestImages();
    server = await startServer({ extraArgs: ['--heartbeat-grace', '60'] });
    proxy = await CuttableProxy.start(server.agentPort);
    join();
    nodeId = (await waitNodesReady(server, [agent!])).get(nodeName);
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: SLEEPER }));
  });

  after(async () => {
    await agent?.stop().catch(() => undefined);
    await proxy?.close();
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
  });

  it('SIGTERM stops the agent (exit 0) and leaves its containers running', async () => {
    const before = await settled(3);
    const a = agent!;
    await a.stop({ keepDataDir: true });
    assert.deepEqual(await a.exit, { code: 0, signal: null });

    const after = await containersOfNode(nodeName, { running: true });
    assert.deepEqual(after.sort(), [...before.containers].sort(), 'the same three containers still run');
    for (const id of after) assert.equal((await inspectContainer(id)).State.Running, true);
  });

  it('started again with the same name: same node id, same containers, no twin, tasks running', async () => {
    const containers = (await containersOfNode(nodeName)).sort();
    const taskIds = (await live()).map((t) => t.id).sort();
    join();
    const ids = await waitNodesReady(server!, [agent!]);
    assert.equal(ids.get(nodeName), nodeId, 'the node keeps its id');
    assert.equal((await listNodes(server!)).filter((n) => n.name === nodeName).length, 1, 'one node of that name');

    // A change made after the restart proves the agent has synced with the control plane:
    // once the 4th replica runs, the first three must still be the containers adopted.
    ok(await berth('scale', 'service', 'sleeper', '--replicas', '4'));
    const now = await settled(4);
    for (const id of containers) assert.ok(now.containers.includes(id), `container ${id.slice(0, 12)} adopted, not replaced`);
    for (const id of taskIds) assert.ok(now.tasks.some((t) => t.id === id), `task ${id} still the running task of its slot`);
    const reported = now.tasks.map((t) => t.status.containerId ?? '');
    for (const id of now.containers) assert.ok(reported.some((c) => c && id.startsWith(c)), `container ${id.slice(0, 12)} is a task's container`);
  });

  it('a dropped connection: the agent reconnects and starts no duplicate', async () => {
    const before = await settled(4);
    const acceptedBefore = proxy!.accepted;
    proxy!.cut();
    // It comes back through the proxy, or straight to the server's own agent address, which it
    // learned with the server list (docs/ha.md): both are the same server.
    const reconnected = () => {
      if (proxy!.accepted > acceptedBefore) return true;
      const tail = agent!.logTail();
      const moved = tail.lastIndexOf('moving to another server');
      return moved >= 0 && tail.indexOf('session established', moved) > moved ? true : undefined;
    };
    await eventually(() => Promise.resolve(reconnected()), 60_000, `the agent to reconnect; agent said:\n${agent?.logTail()}`);

    ok(await berth('scale', 'service', 'sleeper', '--replicas', '5'));
    const now = await settled(5);
    for (const id of before.containers) assert.ok(now.containers.includes(id), `container ${id.slice(0, 12)} kept across the reconnect`);
    assert.deepEqual(
      before.tasks.map((t) => t.id).filter((id) => !now.tasks.some((t) => t.id === id)),
      [],
      'every task running before the cut is still running',
    );
    assert.equal(agent!.pid > 0 && (await Promise.race([agent!.exit.then(() => 'exited'), Promise.resolve('alive')])), 'alive', 'the same agent process');
  });
});
