// Usage with two servers on one etcd: each hears only its own agents, and either server answers
// for the whole cluster (it asks the other with the caller's token). When the other server dies,
// an answer is never silently partial: each node is in it, or its server is named unreachable.
import assert from 'node:assert/strict';
import type { NodeUsage, TaskUsage, UsageList } from '../../common/usage.js';
import { ok, runBerth, serverApi, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { sleep } from '../../common/sleep.js';

const PREFIX = `/usage-ha-${Math.random().toString(36).slice(2, 8)}/`;

describe('e2e: usage across two servers (external etcd, docker agents)', function () {
  this.timeout(240_000);
  let etcd: TestEtcd | undefined;
  let a: TestServer | undefined;
  let b: TestServer | undefined;
  const agents: TestAgent[] = [];
  const [n1, n2] = [testNodeName('usage1'), testNodeName('usage2')];

  before(async () => {
    await ensureTestImages();
    etcd = await startTestEtcd();
    const args = (name: string) => ['--name', name, '--etcd', etcd!.endpoints.join(','), '--etcd-prefix', PREFIX, '--heartbeat-grace', '5'];
    a = await startServer({ extraArgs: args('a') });
    b = await startServer({ extraArgs: args('b'), tokensFrom: a });
    agents.push(startAgent(a, { name: n1, runtime: 'docker' }));
    agents.push(startAgent(a, { name: n2, runtime: 'docker', serverAddress: `127.0.0.1:${b.agentPort}` }));
    await waitNodesReady(a, agents);
    ok(await runBerth(['apply', '-f', '-'], { config: a.configPath, input: sleeperManifest('idle', { replicas: 2, stopGracePeriodSeconds: 1, extra: ['placement:', '  maxPerNode: 1'] }) }));
  });

  after(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await b?.stop('SIGKILL').catch(() => undefined);
    await a?.stop().catch(() => undefined);
    await removeContainersOfNodes([n1, n2]);
    await etcd?.stop();
  });

  it('either server lists both nodes and both tasks, each from the server holding its session', async () => {
    for (const asked of [a!, b!]) {
      const list = (await eventually(async () => {
        const l = await serverApi<UsageList<NodeUsage>>(asked, '/v1/usage/nodes');
        return l.items.length === 2 ? l : undefined;
      }, 60_000, 'two nodes in the usage'))!;
      assert.deepEqual(list.items.map((n) => [n.node, n.server]).sort(), [[n1, 'a'], [n2, 'b']].sort());
      assert.deepEqual(list.unreachable, []);
      const tasks = (await eventually(async () => {
        const l = await serverApi<UsageList<TaskUsage>>(asked, '/v1/usage/tasks?service=idle');
        return l.items.length === 2 ? l : undefined;
      }, 60_000, 'both tasks in the usage'))!;
      assert.deepEqual(tasks.items.map((t) => t.node).sort(), [n1, n2].sort());
    }
    const local = await serverApi<UsageList<NodeUsage>>(a!, '/v1/usage/nodes?local=true');
    assert.deepEqual(local.items.map((n) => n.node), [n1]);
    const top = ok(await runBerth(['top', 'nodes'], { config: a!.configPath })).stdout;
    assert.match(top, new RegExp(`^${n1}\\s`, 'm'));
    assert.match(top, new RegExp(`^${n2}\\s`, 'm'));
  });

  it('with the other server killed, each answer lists its node or names it unreachable, until the node is back through the survivor', async () => {
    await b!.stop('SIGKILL');
    let namedUnreachable = false;
    let backThroughA = false;
    const deadline = Date.now() + 60_000;
    while (!backThroughA && Date.now() < deadline) {
      const list = await serverApi<UsageList<NodeUsage>>(a!, '/v1/usage/nodes');
      const n2Usage = list.items.find((n) => n.node === n2);
      namedUnreachable ||= (list.unreachable ?? []).includes('b');
      backThroughA = n2Usage?.server === 'a';
      await sleep(250);
    }
    assert.ok(namedUnreachable, 'the dead server was named while its registration lasted');
    assert.ok(backThroughA, 'the node moved to the surviving server and its usage comes from there');
    // From then on it stays; the dead server is named until its lease ends, then no longer.
    let cleared = false;
    for (let i = 0; i < 120 && !cleared; i++) {
      const list = await serverApi<UsageList<NodeUsage>>(a!, '/v1/usage/nodes');
      assert.deepEqual(list.items.map((n) => [n.node, n.server]).sort(), [[n1, 'a'], [n2, 'a']].sort());
      cleared = list.unreachable?.length === 0;
      await sleep(500);
    }
    assert.ok(cleared, 'the dead server is no longer named once its registration has ended');
  });
});
