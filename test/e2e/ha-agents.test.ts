// Agents move to another server when theirs dies (docs/ha.md): three servers on one external
// etcd, docker agents given only server a's address. The servers tell the agents every server's
// address (kept in the agent's data dir); SIGKILL of a (the leader) and later of a follower
// holding an agent's session: every agent reconnects to a surviving server, no node is ever
// marked down (watched in etcd during the whole window, and no NodeDown event), and no container
// is restarted or replaced (same tasks, same container ids, still running). The CLI, given a
// config listing the dead server's URL first, answers through the next. A server given an etcd
// endpoint that does not answer says its etcd is unhealthy.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { BerthEvent } from '../../common/events.js';
import type { Node, Task } from '../../common/types.js';
import type { SessionRecord } from '../../control-plane/leader/sessions.js';
import type { Store } from '../../control-plane/store/store.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { ok, runBerth, serverApi, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, ensureTestImages, inspectContainer, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';

const PREFIX = `/ha-agents-${Math.random().toString(36).slice(2, 8)}/`;
const GRACE_S = 2;
/** The new term's reconnect allowance (10 s) plus the grace, and a margin. */
const PAST_ALLOWANCE_MS = 14_000;

interface ServerView {
  name: string;
  agentAddress: string;
  leader: boolean;
  etcd?: string;
}

describe('e2e: agents move to a surviving server (external etcd, three servers)', function () {
  this.timeout(180_000);
  let etcd: TestEtcd;
  let store: Store;
  const servers = new Map<string, TestServer>();
  const agents: TestAgent[] = [];
  const nodeNames = [testNodeName('ha1'), testNodeName('ha2')];
  let extraNode: string | undefined;
  const tmpFiles: string[] = [];

  const start = async (name: string, tokensFrom?: TestServer, extraEtcd: string[] = []) => {
    const s = await startServer({
      extraArgs: ['--name', name, '--etcd', [...etcd.endpoints, ...extraEtcd].join(','), '--etcd-prefix', PREFIX, '--heartbeat-grace', String(GRACE_S)],
      ...(tokensFrom ? { tokensFrom } : {}),
    });
    servers.set(name, s);
    return s;
  };
  const api = <T>(p: string, init: { method?: string; body?: unknown } = {}): Promise<T> => serverApi<T>([...servers.values()][0]!, p, init);
  const nodes = () => api<{ items: Node[] }>('/v1/nodes').then((r) => r.items);
  const running = async () => (await store.list<Task>('tasks/web/')).items.filter((t) => t.desiredState === 'running');
  /** Task id -> container id of every live task, once all `want` run. */
  const containersNow = async (want: number) => {
    const tasks = await running();
    if (tasks.length !== want || !tasks.every((t) => t.status.state === 'running' && t.status.containerId)) return undefined;
    return new Map(tasks.map((t) => [t.id, t.status.containerId!]));
  };
  const agentAddressOf = (name: string) => `127.0.0.1:${servers.get(name)!.agentPort}`;

  /**
   * SIGKILLs `victim` while watching every node write in etcd, then waits for every node's session
   * to be held by a surviving server and past the new term's allowance: nothing went down and
   * every container is the one that ran before.
   */
  const killAndCheck = async (victim: string, want: number) => {
    const before = (await containersNow(want))!;
    assert.ok(before, 'every task running before the kill');
    const downs: string[] = [];
    const stopWatch = await store.watch<Node>('nodes/', (await store.revision()) + 1, (ev) => {
      if (ev.type === 'put' && ev.value.status.state === 'down') downs.push(ev.value.name);
    }, () => undefined);
    try {
      await servers.get(victim)!.stop('SIGKILL');
      servers.delete(victim);
      const survivors = new Set(servers.keys());
      const ids = (await nodes()).map((n) => n.id);
      await eventually(async () => {
        const held = await Promise.all(ids.map((id) => store.get<SessionRecord>(`sessions/${id}`)));
        return held.every((s) => s && survivors.has(s.server) && !s.silent);
      }, 30_000, `every node's session held by a server other than ${victim}`);
      await new Promise((r) => setTimeout(r, PAST_ALLOWANCE_MS));
    } finally {
      await stopWatch();
    }
    assert.deepEqual(downs, [], 'no node marked down during the failover');
    const states = (await nodes()).map((n) => [n.name, n.status.state]);
    assert.ok(states.every(([, s]) => s === 'ready'), `every node ready: ${JSON.stringify(states)}`);
    const events = await api<{ items: BerthEvent[] }>('/v1/events?kind=node');
    assert.deepEqual(events.items.filter((e) => e.reason === 'NodeDown').map((e) => e.object.name), [], 'no NodeDown event');
    const after = await containersNow(want);
    assert.deepEqual(after && [...after].sort(), [...before].sort(), 'the same tasks with the same containers');
    for (const id of before.values()) assert.equal((await inspectContainer(id)).State.Running, true, `container ${id.slice(0, 12)} still running`);
  };

  before(async () => {
    await ensureTestImages();
    etcd = await startTestEtcd();
    store = etcd.newStore(PREFIX);
    const a = await start('a');
    await start('b', a);
    await start('c', a);
    // Every agent is given server a's address only.
    for (const name of nodeNames) agents.push(startAgent(a, { name, runtime: 'docker', cpu: '1', memory: '1Gi' }));
    await eventually(async () => (await nodes()).filter((n) => n.status.state === 'ready').length === 2, 60_000, 'both nodes ready');
    ok(await runBerth(['apply', '-f', '-'], {
      config: a.configPath,
      input: serviceManifest('web', [`image: ${BUSYBOX_IMAGE}`, 'command: ["sleep", "3600"]', 'mode: global', 'stopGracePeriodSeconds: 1'].join('\n')),
    }));
    await eventually(() => containersNow(2), 60_000, 'web running on both nodes');
  });

  after(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    for (const s of servers.values()) await s.stop('SIGKILL').catch(() => undefined);
    await removeContainersOfNodes([...nodeNames, ...(extraNode ? [extraNode] : [])]);
    for (const f of tmpFiles) rmSync(f, { force: true });
    await etcd?.stop();
  });

  it('the agents learn every server\'s address and keep it in their data dir; get servers shows each server\'s etcd healthy', async () => {
    const all = ['a', 'b', 'c'].map(agentAddressOf).sort();
    for (const agent of agents) {
      await eventually(() => {
        try {
          const kept = JSON.parse(readFileSync(path.join(agent.dataDir, 'servers.json'), 'utf8')) as { agentAddresses: string[] };
          return [...kept.agentAddresses].sort().join() === all.join();
        } catch {
          return false;
        }
      }, 10_000, `${agent.name} keeps the three addresses`);
    }
    const a = servers.get('a')!;
    const table = ok(await runBerth(['get', 'servers'], { config: a.configPath })).stdout;
    assert.match(table, /^NAME +ADDRESS +ROLE +ETCD +VERSION +AGE/m);
    for (const n of ['a', 'b', 'c']) assert.match(table, new RegExp(`^${n} +.* +(leader|follower) +healthy +`, 'm'));
    const json = JSON.parse(ok(await runBerth(['get', 'servers', '-o', 'json'], { config: a.configPath })).stdout) as { items: ServerView[] };
    assert.deepEqual(json.items.map((s) => s.etcd), ['healthy', 'healthy', 'healthy']);
    // berth.yaml of each server lists every server's API URL, its own first.
    await eventually(() => {
      const cfg = parseYaml(readFileSync(servers.get('b')!.configPath, 'utf8')) as { server: string; servers?: string[] };
      return cfg.servers?.length === 3 && cfg.servers[0] === servers.get('b')!.url;
    }, 10_000, 'b\'s berth.yaml lists the three API URLs');
  });

  it('SIGKILL of server a, the leader all agents joined: each moves to a survivor, no node down, no container restarted', async () => {
    const leader = (await api<{ items: ServerView[] }>('/v1/servers')).items.find((s) => s.leader)?.name;
    assert.equal(leader, 'a');
    const deadUrl = servers.get('a')!.url;
    await killAndCheck('a', 2);
    for (const agent of agents) assert.match(agent.logTail(), /moving to another server/, `${agent.name} says where it went`);

    // A CLI whose config names the dead server first answers through the next one.
    const b = servers.get('b')!;
    const cfg = parseYaml(readFileSync(b.configPath, 'utf8')) as Record<string, unknown>;
    const file = path.join(b.dataDir, '..', `berth-ha-agents-${process.pid}.yaml`);
    tmpFiles.push(file);
    writeFileSync(file, stringify({ ...cfg, server: undefined, servers: [deadUrl, b.url] }), { mode: 0o600 });
    const listed = JSON.parse(ok(await runBerth(['get', 'nodes', '-o', 'json'], { config: file })).stdout) as { items: Node[] };
    assert.deepEqual(listed.items.map((n) => n.name).sort(), [...nodeNames].sort());
  });

  it('SIGKILL of a follower holding an agent\'s session: that agent moves on too, nothing down or restarted', async () => {
    // A new server d (a follower: a leader is in place) and a third agent given only d's address.
    // d is also given an etcd endpoint where nothing answers: its ETCD column says unhealthy.
    const deadEtcd = `http://127.0.0.1:${await freePort()}`;
    const d = await start('d', servers.get('b'), [deadEtcd]);
    extraNode = testNodeName('ha3');
    agents.push(startAgent(d, { name: extraNode, runtime: 'docker', cpu: '1', memory: '1Gi' }));
    await eventually(async () => (await nodes()).some((n) => n.name === extraNode && n.status.state === 'ready'), 60_000, 'the third node ready');
    await eventually(() => containersNow(3), 60_000, 'web running on the three nodes');
    const views = (await api<{ items: ServerView[] }>('/v1/servers')).items;
    assert.equal(views.find((s) => s.name === 'd')?.leader, false, 'd is a follower');
    const described = ok(await runBerth(['describe', 'server', 'd'], { config: d.configPath })).stdout;
    assert.match(described, /Etcd: +unhealthy/);
    assert.ok(described.includes(`${deadEtcd}: ECONNREFUSED`), described);
    assert.deepEqual(views.filter((s) => s.etcd !== 'healthy').map((s) => s.name), ['d']);
    const node = (await nodes()).find((n) => n.name === extraNode)!;
    assert.equal((await store.get<SessionRecord>(`sessions/${node.id}`))?.server, 'd');
    await killAndCheck('d', 3);
    assert.deepEqual(await containersOfNode(extraNode, { running: true }).then((c) => c.length), 1);
  });
});
