// Chaos: the daemons killed with SIGKILL and started again, with real Docker.
// - An agent killed and restarted (same name, same data dir) within the heartbeat grace adopts
//   its containers: same container ids, no twin, the node never declared down.
// - The control plane (`berth server --no-agent --etcd ...`, an etcd that outlives it) killed
//   and restarted on the same data dir and ports: no container restarted on any node, agents
//   reconnected by themselves, services and tasks unchanged.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { BerthEvent } from '../../common/events.js';
import type { Service, Task } from '../../common/types.js';
import { RESTART_RECONNECT_ALLOWANCE_MS } from '../../control-plane/dispatcher/dispatcher.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { apiFetch } from '../helpers/api-fetch.js';
import {
  berthJson,
  listNodes,
  listTasks,
  runBerth,
  spawnBerth,
  startAgent,
  startServer,
  waitNodesReady,
  type BerthDaemon,
  type TestAgent,
  type TestServer,
} from '../helpers/berth.js';
import { containersOfNode, ensureTestImages, inspectContainer, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';

const sleeper = (name: string, replicas: number) => sleeperManifest(name, { replicas, stopGracePeriodSeconds: 1, memory: '16Mi' });

/** How long the control plane stays dead before it is started again. */
const OUTAGE_MS = 6_000;

const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

/** What must not change across a restart: each task's identity, node, state and container. */
const taskFacts = (tasks: Task[]) =>
  tasks.map((t) => ({ id: t.id, node: t.nodeId, desired: t.desiredState, state: t.status.state, container: t.status.containerId })).sort((a, b) => a.id.localeCompare(b.id));

async function settledContainers(nodes: readonly string[], expected: number): Promise<Map<string, string[]>> {
  const got = await eventually(async () => {
    const byNode = new Map<string, string[]>();
    let total = 0;
    for (const n of nodes) {
      const all = (await containersOfNode(n)).sort();
      const running = await containersOfNode(n, { running: true });
      if (all.length !== running.length) return undefined;
      byNode.set(n, all);
      total += all.length;
    }
    return total === expected ? byNode : undefined;
  }, 120_000, `${expected} running containers (and no stopped one) on ${nodes.join(', ')}`);
  if (!got) throw new Error('unreachable');
  return got;
}

describe('e2e chaos: an agent SIGKILLed and restarted within the heartbeat grace', function () {
  this.timeout(240_000);
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let dataDir: string | undefined;
  const nodeName = testNodeName('chaos-agent');

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    // A grace long enough for a restart from source (tsx) on a loaded machine.
    server = await startServer({ extraArgs: ['--heartbeat-grace', '20'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker' });
    dataDir = agent.dataDir;
    await waitNodesReady(server, [agent], 90_000);
  });

  after(async () => {
    if (server) await runBerth(['delete', 'service', 'kept'], { config: server.configPath }).catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await removeContainersOfNodes([nodeName]);
  });

  it('keeps every container id, starts no twin and is never declared down', async () => {
    const srv = server!;
    const r = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: sleeper('kept', 3) });
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => liveRunning(await listTasks(srv, '--service', 'kept')).length === 3, 90_000, '3 running');
    const before = await settledContainers([nodeName], 3);
    const tasksBefore = taskFacts(await listTasks(srv, '--service', 'kept'));

    await agent!.stop({ signal: 'SIGKILL', keepDataDir: true });
    assert.equal((await agent!.exit).signal, 'SIGKILL');
    agent = startAgent(srv, { name: nodeName, runtime: 'docker', dataDir });
    await waitNodesReady(srv, [agent], 90_000);

    // A scale after the restart proves the agent has synced: once the 4th runs, the first three
    // must still be the containers it adopted.
    const scaled = await runBerth(['scale', 'service', 'kept', '--replicas', '4'], { config: srv.configPath });
    assert.equal(scaled.code, 0, scaled.stderr);
    await eventually(async () => liveRunning(await listTasks(srv, '--service', 'kept')).length === 4, 90_000, '4 running');
    const after = await settledContainers([nodeName], 4);
    for (const id of before.get(nodeName)!) assert.ok(after.get(nodeName)!.includes(id), `container ${id.slice(0, 12)} kept`);
    for (const id of after.get(nodeName)!) assert.equal((await inspectContainer(id)).State.Running, true);
    const tasksAfter = taskFacts(await listTasks(srv, '--service', 'kept'));
    for (const t of tasksBefore) assert.deepEqual(tasksAfter.find((x) => x.id === t.id), t, `task ${t.id} unchanged`);

    const events = (await berthJson<{ items: BerthEvent[] }>(srv, 'get', 'events', '--for', `node/${nodeName}`)).items;
    assert.deepEqual(events.filter((e) => e.reason === 'NodeDown'), [], 'the node was never declared down');
  });
});

/** A `berth server` on fixed ports and a data dir that outlive the process, so it can be restarted. */
class RestartableServer {
  daemon: BerthDaemon | undefined;
  readonly dataDir = mkdtempSync(path.join(tmpdir(), 'berth-chaos-server-'));
  private constructor(
    readonly apiPort: number,
    readonly agentPort: number,
    private readonly etcdUrl: string,
  ) {}

  static async create(etcdUrl: string): Promise<RestartableServer> {
    return new RestartableServer(await freePort(), await freePort(), etcdUrl);
  }

  get configPath(): string {
    return path.join(this.dataDir, 'berth.yaml');
  }

  /** The shape the test helpers (listTasks, startAgent) read. */
  view(): TestServer {
    const d = this.daemon;
    return {
      url: `https://127.0.0.1:${this.apiPort}`,
      token: this.token(),
      dataDir: this.dataDir,
      configPath: this.configPath,
      fetch: apiFetch(this.dataDir),
      agentPort: this.agentPort,
      pid: d?.pid ?? -1,
      exit: d?.exit ?? Promise.resolve({ code: null, signal: null }),
      logTail: () => (d ? d.stderr().split('\n').slice(-40).join('\n') : ''),
      stop: async () => {
        await d?.stop();
      },
    };
  }

  private token(): string {
    try {
      return (parseYaml(readFileSync(this.configPath, 'utf8')) as { token?: string }).token ?? '';
    } catch {
      return '';
    }
  }

  async start(): Promise<void> {
    this.daemon = spawnBerth(
      [
        'server',
        '--no-agent',
        '--etcd', this.etcdUrl,
        '--data-dir', this.dataDir,
        '--listen', `127.0.0.1:${this.apiPort}`,
        '--agent-listen', `127.0.0.1:${this.agentPort}`,
        '--heartbeat-grace', '5',
      ],
      { env: { BERTH_LOG_LEVEL: 'info' } },
    );
    const d = this.daemon;
    await eventually(async () => {
      if (d.pid < 0 || (await Promise.race([d.exit.then(() => true), Promise.resolve(false)]))) {
        throw new Error(`berth server exited:\n${d.stderr().slice(-3000)}`);
      }
      if (!this.token()) return false;
      const res = await apiFetch(this.dataDir)(`https://127.0.0.1:${this.apiPort}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.ok;
    }, 60_000, 'berth server ready');
  }

  async kill(): Promise<void> {
    await this.daemon?.stop('SIGKILL');
  }

  async remove(): Promise<void> {
    await this.daemon?.stop('SIGKILL').catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

describe('e2e chaos: the control plane SIGKILLed and restarted (external etcd)', function () {
  this.timeout(300_000);
  let etcd: TestEtcd | undefined;
  let server: RestartableServer | undefined;
  const agents: TestAgent[] = [];
  const names = [testNodeName('chaos-cp-a'), testNodeName('chaos-cp-b')];

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    etcd = await startTestEtcd();
    server = await RestartableServer.create(etcd.etcd.clientUrl);
    await server.start();
    for (const name of names) agents.push(startAgent(server.view(), { name, runtime: 'docker' }));
    await waitNodesReady(server.view(), agents, 90_000);
  });

  after(async () => {
    if (server) await runBerth(['delete', 'service', 'survivor'], { config: server.configPath }).catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
    await server?.remove();
    await etcd?.stop();
    await removeContainersOfNodes(names);
  });

  it('restarts no container, loses no service or task, and the agents reconnect by themselves', async () => {
    const srv = server!;
    const r = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: sleeper('survivor', 4) });
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => liveRunning(await listTasks(srv.view(), '--service', 'survivor')).length === 4, 90_000, '4 running');
    const containersBefore = await settledContainers(names, 4);
    const tasksBefore = taskFacts(await listTasks(srv.view(), '--service', 'survivor'));
    const serviceBefore = await berthJson<Service>(srv.view(), 'get', 'service', 'survivor');
    const nodesBefore = (await listNodes(srv.view())).map((n) => [n.name, n.id]).sort();

    await srv.kill();
    assert.equal((await srv.daemon!.exit).signal, 'SIGKILL');
    for (const [n, ids] of containersBefore) assert.deepEqual(await containersOfNode(n, { running: true }).then((x) => x.sort()), ids, `${n} runs on`);
    // Away longer than the heartbeat grace (5 s), shorter than the agents' fence (3 x grace): the
    // agents' reconnect backoff has grown by the time the server is back.
    await new Promise((res) => setTimeout(res, OUTAGE_MS));
    await srv.start();
    const restartedAt = Date.now();

    // The agents come back by themselves (nothing here restarts them).
    await waitNodesReady(srv.view(), agents, 90_000);
    assert.deepEqual((await listNodes(srv.view())).map((n) => [n.name, n.id]).sort(), nodesBefore, 'same nodes, same ids');
    // Past the heartbeat grace plus the reconnect allowance after the restart, nothing has moved.
    const judged = restartedAt + 5_000 + RESTART_RECONNECT_ALLOWANCE_MS + 1_000;
    await new Promise((res) => setTimeout(res, Math.max(0, judged - Date.now())));
    const nodes = await listNodes(srv.view());
    for (const n of nodes) assert.equal(n.status.state, 'ready', `${n.name} ready`);
    assert.deepEqual(taskFacts(await listTasks(srv.view(), '--service', 'survivor')), tasksBefore, `tasks unchanged; server said:\n${srv.view().logTail()}`);
    const serviceAfter = await berthJson<Service>(srv.view(), 'get', 'service', 'survivor');
    assert.deepEqual(serviceAfter.spec, serviceBefore.spec);
    assert.equal(serviceAfter.metadata.version, serviceBefore.metadata.version, 'the service was not rewritten');
    for (const [n, ids] of containersBefore) {
      assert.deepEqual((await containersOfNode(n)).sort(), ids, `same containers on ${n}, no new one`);
      for (const id of ids) assert.equal((await inspectContainer(id)).State.Running, true);
    }
    const events = (await berthJson<{ items: BerthEvent[] }>(srv.view(), 'get', 'events')).items;
    assert.deepEqual(events.filter((e) => e.reason === 'NodeDown' || e.reason === 'TaskOrphaned').map((e) => e.message), [], 'no node declared down');

    // And the restarted control plane still drives the agents.
    const scaled = await runBerth(['scale', 'service', 'survivor', '--replicas', '5'], { config: srv.configPath });
    assert.equal(scaled.code, 0, scaled.stderr);
    await eventually(async () => liveRunning(await listTasks(srv.view(), '--service', 'survivor')).length === 5, 90_000, '5 running after the restart');
  });
});
