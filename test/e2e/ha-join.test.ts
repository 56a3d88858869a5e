// Servers forming a cluster with `berth server --join` (docs/ha.md), each with its own embedded
// etcd, on loopback with their own ports and data dirs: three servers make a 3-member etcd whose
// peers speak TLS; a node's join token or a forged manager token is refused and adds nothing; the
// leader SIGKILLed in the middle of a rolling update (docker runtime): a follower leads, the update
// completes one step per slot, the untouched service's containers are the same, no service is
// lost and no task doubled; the killed server started again on its data dir comes back as the
// same member; `server rm` of a stopped server and `server leave` remove their members.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Task } from '../../common/types.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { Store, type EtcdMember } from '../../control-plane/store/store.js';
import { ok, runBerth, spawnBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { containersOfNode, ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { assertRolloutCompletedOncePerSlot } from '../helpers/rollout.js';

interface ServerView {
  name: string;
  leader: boolean;
}

async function api<T>(s: TestServer, p: string): Promise<T> {
  const res = await s.fetch(`${s.url}${p}`, { headers: { authorization: `Bearer ${s.token}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${p}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const serversOf = (s: TestServer) => api<{ items: ServerView[] }>(s, '/v1/servers').then((r) => r.items);
const leaderSeenBy = async (s: TestServer) => (await serversOf(s).catch(() => [])).find((v) => v.leader)?.name;
const live = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running');

/** A store on the server's own etcd member (its loopback client URL). */
function storeOf(s: TestServer): Store {
  const url = s.etcdUrl?.();
  assert.ok(url, 'the server printed its etcd client URL');
  return new Store({ endpoints: [url], prefix: '/berth/', logger: silentLogger });
}

async function membersOf(s: TestServer): Promise<EtcdMember[]> {
  const store = storeOf(s);
  try {
    return (await store.members()).sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    store.close();
  }
}

describe('e2e: servers joined with --join (embedded etcds)', function () {
  this.timeout(300_000);
  const servers = new Map<string, TestServer>();
  const dirs: string[] = [];
  const agents: TestAgent[] = [];
  const nodes = [testNodeName('hj-1'), testNodeName('hj-2')];
  /** Member ids after the cluster formed, by name. */
  const ids = new Map<string, string>();

  const joinArgs = (name: string, via: TestServer) => ['--name', name, '--heartbeat-grace', '2', '--join', `127.0.0.1:${via.agentPort}`, '--token-file', path.join(via.dataDir, 'manager-token')];

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    const a = await startServer({ extraArgs: ['--name', 'a', '--heartbeat-grace', '2'] });
    servers.set('a', a);
    servers.set('b', await startServer({ extraArgs: joinArgs('b', a) }));
    // Through a server that joined itself: any server lets others join.
    servers.set('c', await startServer({ extraArgs: joinArgs('c', servers.get('b')!) }));
  });

  after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await removeContainersOfNodes(nodes);
    for (const s of servers.values()) await s.stop('SIGKILL').catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('three servers joined with --join: a 3-member etcd with TLS peer URLs, one leader, the joined servers hold the CA and tokens', async () => {
    const members = await membersOf(servers.get('c')!);
    assert.deepEqual(members.map((m) => [m.name, m.learner]), [['a', false], ['b', false], ['c', false]]);
    for (const m of members) {
      assert.match(m.peerUrls[0]!, /^https:\/\/127\.0\.0\.1:\d+$/, `${m.name}'s peer URL is TLS`);
      ids.set(m.name, m.id);
    }
    // A peer port speaks nothing in plaintext.
    await assert.rejects(fetch(members[0]!.peerUrls[0]!.replace('https:', 'http:') + '/members', { signal: AbortSignal.timeout(3000) }).then(async (r) => {
      if (!r.ok) throw new Error(`refused: ${r.status}`);
      return r.text();
    }));
    const list = await serversOf(servers.get('b')!);
    assert.deepEqual(list.map((s) => s.name), ['a', 'b', 'c']);
    assert.deepEqual(list.filter((s) => s.leader).map((s) => s.name), ['a']);
    for (const name of ['b', 'c']) {
      const s = servers.get(name)!;
      for (const f of ['ca.crt', 'ca.key', 'admin-token', 'join-token', 'manager-token', 'etcd-peer.crt']) assert.ok(existsSync(path.join(s.dataDir, f)), `${name} has ${f}`);
      // The secrets key came too, the first server's own: the joined server opens the cluster's secrets.
      assert.equal(readFileSync(path.join(s.dataDir, 'secrets.key'), 'utf8'), readFileSync(path.join(servers.get('a')!.dataDir, 'secrets.key'), 'utf8'), `${name} holds a's secrets key`);
      // Its own berth.yaml works (the admin token came with the join).
      assert.match(ok(await runBerth(['get', 'servers'], { config: s.configPath })).stdout, /^c +/m);
    }
  });

  it("a node's join token, a forged or a rotated-away manager token is refused with a clear message, and nothing is added", async () => {
    const a = servers.get('a')!;
    const forged = path.join(mkdtempSync(path.join(tmpdir(), 'berth-forged-')), 'token');
    dirs.push(path.dirname(forged));
    const manager = readFileSync(path.join(a.dataDir, 'manager-token'), 'utf8').trim();
    writeFileSync(forged, `${manager.slice(0, manager.lastIndexOf('-'))}-forgedsecretforgedsecretforged\n`);
    // A manager token rotated away (berth token rotate manager) no longer works either.
    const rotatedAway = path.join(path.dirname(forged), 'old-manager-token');
    writeFileSync(rotatedAway, `${manager}\n`);
    const rotated = ok(await runBerth(['token', 'rotate', 'manager'], { config: a.configPath }));
    assert.match(rotated.stdout.trim(), /^BERTH-1-[0-9a-f]{64}-/);
    assert.notEqual(rotated.stdout.trim(), manager);
    assert.equal(readFileSync(path.join(a.dataDir, 'manager-token'), 'utf8').trim(), rotated.stdout.trim());
    for (const tokenFile of [path.join(a.dataDir, 'join-token'), forged, rotatedAway]) {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-refused-'));
      dirs.push(dataDir);
      const p = spawnBerth([
        'server', '--no-agent', '--name', 'intruder', '--data-dir', dataDir,
        '--listen', `127.0.0.1:${await freePort()}`, '--agent-listen', `127.0.0.1:${await freePort()}`,
        '--join', `127.0.0.1:${a.agentPort}`, '--token-file', tokenFile,
      ]);
      const exit = await p.exit;
      assert.equal(exit.code, 1, p.stderr());
      assert.match(p.stderr(), /invalid manager token: a server joins with the manager token/);
      for (const f of ['ca.key', 'admin-token', 'etcd']) assert.ok(!existsSync(path.join(dataDir, f)), `nothing written: ${f}`);
    }
    assert.deepEqual((await membersOf(a)).map((m) => m.name), ['a', 'b', 'c'], 'no etcd member added');
    assert.deepEqual((await serversOf(a)).map((s) => s.name), ['a', 'b', 'c'], 'no server registered');
  });

  it('the leader SIGKILLed in the middle of a rolling update: a follower leads, the update completes, the untouched containers stay, nothing lost or doubled', async () => {
    // Agents on the followers: the leader's death ends none of their sessions.
    agents.push(startAgent(servers.get('b')!, { name: nodes[0]!, runtime: 'docker' }), startAgent(servers.get('c')!, { name: nodes[1]!, runtime: 'docker' }));
    const b = servers.get('b')!;
    await waitNodesReady(b, agents, 90_000);
    const store = storeOf(b);
    try {
      const web = (seconds: number) =>
        sleeperManifest('web', { replicas: 4, seconds, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1, extra: ['update:', '  parallelism: 1', '  monitorSeconds: 2'] });
      ok(await runBerth(['apply', '-f', '-'], { config: b.configPath, input: sleeperManifest('keep', { replicas: 2, seconds: 3600, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1 }) }));
      ok(await runBerth(['apply', '-f', '-'], { config: b.configPath, input: web(600) }));
      const running = (t: Task[]) => t.length && t.every((x) => x.status.state === 'running' && x.status.containerId);
      await eventually(async () => {
        const w = live((await store.list<Task>('tasks/web/')).items);
        const k = live((await store.list<Task>('tasks/keep/')).items);
        return w.length === 4 && k.length === 2 && running(w) && running(k);
      }, 90_000, 'web (4) and keep (2) running in containers');
      const keepBefore = live((await store.list<Task>('tasks/keep/')).items).map((t) => [t.id, t.status.containerId]).sort();

      ok(await runBerth(['apply', '-f', '-'], { config: b.configPath, input: web(601) }));
      await eventually(async () => {
        const u = await store.get<UpdateStatus>('updates/web');
        return u?.state === 'updating' && u.steps >= 2;
      }, 60_000, 'the rollout half-way');
      assert.equal(await leaderSeenBy(b), 'a');
      await servers.get('a')!.stop('SIGKILL', { keepDataDir: true });
      dirs.push(servers.get('a')!.dataDir);
      servers.delete('a');
      const next = (await eventually(async () => {
        const l = await leaderSeenBy(b);
        return l && l !== 'a' ? l : undefined;
      }, 15_000, 'a follower leads'))!;
      assert.ok(['b', 'c'].includes(next));

      await assertRolloutCompletedOncePerSlot(store, 'web', 4, ['sleep', '601']);
      const keepAfter = live((await store.list<Task>('tasks/keep/')).items).map((t) => [t.id, t.status.containerId]).sort();
      assert.deepEqual(keepAfter, keepBefore, "the untouched service's tasks and containers are the same");
      const services = (await store.list<{ metadata: { name: string } }>('services/')).items.map((s) => s.metadata.name).sort();
      assert.deepEqual(services, ['keep', 'web'], 'no service lost');
      await eventually(async () => {
        const ids = (await Promise.all(nodes.map((n) => containersOfNode(n, { running: true })))).flat();
        return ids.length === 6;
      }, 30_000, 'six containers running on the nodes: no task doubled');
    } finally {
      store.close();
    }
  });

  it('the killed server, started again on its data dir without --join, comes back as the same member', async () => {
    const dataDir = dirs.pop()!;
    const a = await startServer({ dataDir, extraArgs: ['--name', 'a', '--heartbeat-grace', '2'] });
    servers.set('a', a);
    const members = await membersOf(a);
    assert.deepEqual(members.map((m) => [m.name, m.id]), ['a', 'b', 'c'].map((n) => [n, ids.get(n)]));
    await eventually(async () => (await serversOf(a)).length === 3, 10_000, 'a registered again');
    assert.equal((await serversOf(a)).filter((s) => s.leader).length, 1);
  });

  it('server rm removes a stopped server\'s member (refused while it runs); leave is refused without a quorum left, else removes its own member and stops the server', async () => {
    const b = servers.get('b')!;
    const refused = await runBerth(['server', 'rm', 'a'], { config: b.configPath });
    assert.equal(refused.code, 6, refused.stderr);
    assert.match(refused.stderr, /server "a" is running: run "berth server leave" against it, or stop it first/);

    await servers.get('a')!.stop('SIGKILL');
    servers.delete('a');
    await eventually(async () => !(await serversOf(b)).some((s) => s.name === 'a'), 15_000, "a's registration lapsed");
    // With a dead, c leaving would leave b running alone among two members: no quorum, refused.
    const c0 = servers.get('c')!;
    const noQuorum = await runBerth(['server', 'leave'], { config: c0.configPath });
    assert.equal(noQuorum.code, 6, noQuorum.stdout);
    assert.match(noQuorum.stderr, /server "c" cannot leave: of the 2 etcd members that would remain, 1 run a server; etcd needs 2/);
    // etcd may refuse a reconfiguration for a moment after a member's loss (it wants its peers
    // connected for a while): tried again, within a bound.
    let lastRm = '';
    await eventually(async () => {
      const r = await runBerth(['server', 'rm', 'a'], { config: b.configPath });
      lastRm = r.stderr;
      return r.code === 0;
    }, 20_000, 'server rm a').catch((err: Error) => assert.fail(`${err.message}: ${lastRm}`));
    assert.deepEqual((await membersOf(b)).map((m) => m.name), ['b', 'c']);
    assert.deepEqual((await serversOf(b)).map((s) => s.name), ['b', 'c']);

    const c = servers.get('c')!;
    const left = await runBerth(['--config', c.configPath, 'server', 'leave']);
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stdout, /server c is leaving/);
    const exit = await c.exit;
    assert.equal(exit.code, 0, c.logTail());
    assert.ok(!existsSync(path.join(c.dataDir, 'etcd')), "c's etcd data is gone: it can only come back with --join");
    servers.delete('c');
    dirs.push(c.dataDir);
    await eventually(async () => (await membersOf(b)).length === 1, 15_000, 'c removed');
    await eventually(async () => (await leaderSeenBy(b)) === 'b', 15_000, 'b leads alone');

    const last = await runBerth(['server', 'leave'], { config: b.configPath });
    assert.equal(last.code, 6);
    assert.match(last.stderr, /cannot leave: it is the cluster's only etcd member/);
  });
});
