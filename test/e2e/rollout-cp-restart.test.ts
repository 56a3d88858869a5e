// A rollout survives the control plane: a server on an external etcd rolls out a change of 6
// replicas one slot at a time; in the middle it is killed with SIGKILL and started again on the
// same etcd, data dir and ports. The rollout must complete from where it stopped: every slot ends
// on the new revision, no slot was replaced twice (one task of the new spec per slot, ever), and
// the stored rollout counts exactly one step per slot.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Task } from '../../common/types.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runBerth, spawnBerth, startAgent, startServer, waitNodesReady, type BerthDaemon, type TestAgent, type TestServer } from '../helpers/berth.js';
import { ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { getService, getTasks, liveTasks, webManifest } from '../helpers/rollout.js';

const NAME = 'survivor';
const REPLICAS = 6;
const UPDATE = '{ parallelism: 1, monitorSeconds: 3 }';
const GRACE = ['--heartbeat-grace', '10'];

describe('e2e: a rollout survives a control-plane crash (docker runtime, external etcd)', function () {
  this.timeout(400_000);
  let etcd: TestEtcd | undefined;
  let store: Store | undefined;
  let server: TestServer | undefined;
  let restarted: BerthDaemon | undefined;
  const agents: TestAgent[] = [];
  const names = [testNodeName('cp-a'), testNodeName('cp-b')];

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    etcd = await startTestEtcd();
    store = etcd.newStore('/berth/');
    server = await startServer({ extraArgs: ['--etcd', etcd.endpoints.join(','), ...GRACE] });
    for (const name of names) agents.push(startAgent(server, { name, runtime: 'docker' }));
    await waitNodesReady(server, agents, 90_000);
  });

  after(async () => {
    if (server && restarted) {
      await runBerth(['delete', 'service', NAME], { config: server.configPath }).catch(() => undefined);
      const srv = server;
      await eventually(async () => (await getTasks(srv, NAME)).length === 0, 30_000, 'tasks removed').catch(() => undefined);
    }
    for (const a of agents) await a.stop().catch(() => undefined);
    await restarted?.stop().catch(() => undefined);
    await server?.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
    await etcd?.stop();
    await removeContainersOfNodes(names);
  });

  it('completes after a SIGKILL in the middle, with no step repeated or skipped', async () => {
    const srv = server!;
    const apply = (greeting: string, args: string[] = []) =>
      runBerth(['apply', '-f', '-', ...args], { config: srv.configPath, input: webManifest(NAME, { replicas: REPLICAS, greeting, update: UPDATE }), timeoutMs: 300_000 });
    const r1 = await apply('before', ['--wait', '--timeout', '3m']);
    assert.equal(r1.code, 0, `${r1.stdout}\n${r1.stderr}`);

    const r2 = await apply('after');
    assert.equal(r2.code, 0, r2.stderr);
    await eventually(async () => {
      const s = await getService(srv, NAME);
      return (s.status.upToDate ?? 0) >= 2 && (s.status.upToDate ?? 0) <= 4;
    }, 120_000, 'the rollout half-way');
    process.kill(srv.pid, 'SIGKILL');
    await srv.exit;

    const apiPort = new URL(srv.url).port;
    restarted = spawnBerth([
      'server', '--no-agent',
      '--data-dir', srv.dataDir,
      '--listen', `127.0.0.1:${apiPort}`,
      '--agent-listen', `127.0.0.1:${srv.agentPort}`,
      '--etcd', etcd!.endpoints.join(','),
      ...GRACE,
    ]);
    await eventually(async () => (await srv.fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok, 60_000, 'the server back');

    const status = await runBerth(['rollout', 'status', 'service', NAME, '--timeout', '4m'], { config: srv.configPath, timeoutMs: 300_000 });
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}\n${restarted.stderr().slice(-2000)}`);

    const tasks = await getTasks(srv, NAME);
    const live = liveTasks(tasks);
    assert.equal(live.length, REPLICAS);
    for (let slot = 1; slot <= REPLICAS; slot++) {
      const inSlot = tasks.filter((t: Task) => t.slot === slot);
      const current = live.filter((t) => t.slot === slot);
      assert.equal(current.length, 1, `slot ${slot}: one live task`);
      assert.equal(current[0]!.spec.env?.GREETING, 'after', `slot ${slot} runs the new spec`);
      const newOnes = inSlot.filter((t) => t.spec.env?.GREETING === 'after');
      assert.equal(newOnes.length, 1, `slot ${slot} was replaced once: ${newOnes.map((t) => `${t.name} ${t.status.state}`).join(', ')}`);
    }
    const stored = await store!.get<UpdateStatus>(`updates/${NAME}`);
    assert.equal(stored?.state, 'completed');
    assert.equal(stored?.steps, REPLICAS, 'one step per slot: none repeated, none skipped');
    assert.equal(stored?.failures, 0);
  });
});
