// Several servers sharing one external etcd (docs/ha.md): exactly one leads; killed (SIGKILL),
// another leads within the lease (2 s) and carries out a scale made after the kill; a node whose
// agent joined a follower is never judged down by the failover; a leader paused (SIGSTOP) past its
// lease is replaced, and once resumed (SIGCONT) writes no decision: every leader decision in the
// store's history after the resume is absent, the final state is the new leader's, no twin tasks.
import assert from 'node:assert/strict';
import type { BerthEvent } from '../../common/events.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Task } from '../../common/types.js';
import { serverKeys } from '../../control-plane/store/keys.js';
import type { Store, WatchEvent } from '../../control-plane/store/store.js';
import { ok, runBerth, serverApi, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { assertRolloutCompletedOncePerSlot } from '../helpers/rollout.js';

interface ServerView {
  name: string;
  apiUrl: string;
  agentAddress: string;
  serverVersion: string;
  leader: boolean;
}

const PREFIX = `/ha-${Math.random().toString(36).slice(2, 8)}/`;

const api = serverApi;

const serversOf = (s: TestServer) => api<{ items: ServerView[] }>(s, '/v1/servers').then((r) => r.items);
const leaderSeenBy = async (s: TestServer) => (await serversOf(s).catch(() => [])).find((v) => v.leader)?.name;
const tasksOf = (s: TestServer) => api<{ items: Task[] }>(s, '/v1/tasks?service=web').then((r) => r.items);
const live = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running');

describe('e2e: several servers, one leader (external etcd)', function () {
  this.timeout(240_000);
  let etcd: TestEtcd;
  let store: Store;
  const servers = new Map<string, TestServer>();
  let agent: TestAgent | undefined;
  /** The server the agent joined. */
  let agentOn = 'b';

  const start = async (name: string, tokensFrom?: TestServer) => {
    const s = await startServer({
      extraArgs: ['--name', name, '--etcd', etcd.endpoints.join(','), '--etcd-prefix', PREFIX, '--heartbeat-grace', '2'],
      ...(tokensFrom ? { tokensFrom } : {}),
    });
    servers.set(name, s);
    return s;
  };
  /** The service's tasks are `want`, all running, and did not change for 1.5 s. */
  const tasksSettled = async (want: number) => {
    const r1 = await store.list<Task>('tasks/web/');
    await new Promise((r) => setTimeout(r, 1_500));
    const r2 = await store.list<Task>('tasks/web/');
    // Settled: no task of web changed in between (other keys, such as the servers' own, may).
    const versions = (r: typeof r1) => r.items.map((t) => `${t.id}@${t.version}`).sort().join(',');
    return versions(r1) === versions(r2) && r2.items.length === want && r2.items.every((t) => t.desiredState === 'running' && t.status.state === 'running');
  };
  /** Moves the agent to another server (as if it had been given that address): its tasks are adopted. */
  const moveAgent = async (to: string) => {
    const dataDir = agent!.dataDir;
    await agent!.stop({ keepDataDir: true });
    agent = startAgent(servers.get(to)!, { name: 'n1', dataDir });
    agentOn = to;
  };
  const others = (but: string) => [...servers.entries()].filter(([n]) => n !== but).map(([, s]) => s);

  before(async () => {
    etcd = await startTestEtcd();
    store = etcd.newStore(PREFIX);
    const a = await start('a');
    await start('b', a);
    await start('c', a);
    // The agent joins a follower: its heartbeats reach the leader only through etcd.
    agent = startAgent(servers.get('b')!, { name: 'n1' });
    await eventually(async () => (await api<{ items: { name: string; status: { state: string } }[] }>(a, '/v1/nodes')).items.some((n) => n.name === 'n1' && n.status.state === 'ready'), 30_000, 'n1 ready');
  });

  after(async () => {
    await agent?.stop();
    for (const s of servers.values()) {
      try {
        process.kill(s.pid, 'SIGCONT');
      } catch {
        // exited
      }
      await s.stop('SIGKILL');
    }
    await etcd?.stop();
  });

  it('exactly one server leads, shown by get servers; get servers -o json and describe server', async () => {
    const a = servers.get('a')!;
    const list = await serversOf(a);
    assert.deepEqual(list.map((s) => s.name), ['a', 'b', 'c']);
    assert.deepEqual(list.filter((s) => s.leader).map((s) => s.name), ['a'], 'the first server started leads');
    const table = ok(await runBerth(['get', 'servers'], { config: a.configPath })).stdout;
    assert.match(table, /^NAME +ADDRESS +ROLE +ETCD +VERSION +AGE/m);
    assert.match(table, /^a +https:\/\/127\.0\.0\.1:\d+ agents 127\.0\.0\.1:\d+ +leader +healthy /m);
    assert.match(table, /^b +.* +follower /m);
    const json = JSON.parse(ok(await runBerth(['get', 'servers', '-o', 'json'], { config: a.configPath })).stdout) as { items: ServerView[] };
    assert.deepEqual(json.items.map((s) => [s.name, s.leader]), [['a', true], ['b', false], ['c', false]]);
    const described = ok(await runBerth(['describe', 'server', 'a'], { config: a.configPath })).stdout;
    assert.match(described, /Role: +leader/);
    assert.match(described, /LeaderElected/);
  });

  it('SIGKILL of the leader: another leads within 3 s and carries out a scale made after the kill; the node stays ready', async () => {
    const a = servers.get('a')!;
    ok(await runBerth(['apply', '-f', '-'], { config: a.configPath, input: sleeperManifest('web', { replicas: 2, seconds: 600, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1 }) }));
    await eventually(async () => live(await tasksOf(a)).filter((t) => t.status.state === 'running').length === 2, 30_000, '2 running');

    const killedAt = Date.now();
    await a.stop('SIGKILL');
    servers.delete('a');
    const b = servers.get('b')!;
    const next = (await eventually(async () => {
      const l = await leaderSeenBy(b);
      return l && l !== 'a' ? l : undefined;
    }, 5_000, 'a new leader'))!;
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= 3_000, `a new leader in ${tookMs} ms`);
    assert.ok(['b', 'c'].includes(next));
    const listed = await serversOf(b);
    assert.equal(listed.filter((s) => s.leader).length, 1);

    await api(b, '/v1/services/web/scale', { method: 'POST', body: { replicas: 4 } });
    await eventually(async () => {
      const t = live(await tasksOf(b));
      return t.length === 4 && t.every((x) => x.status.state === 'running');
    }, 30_000, 'scaled to 4 and running after the failover');

    // Past the new term's allowance and grace: the node (on a follower) was never judged down.
    await new Promise((r) => setTimeout(r, 13_000));
    const nodes = await api<{ items: { name: string; status: { state: string } }[] }>(b, '/v1/nodes');
    assert.equal(nodes.items.find((n) => n.name === 'n1')?.status.state, 'ready');
    const events = await api<{ items: BerthEvent[] }>(b, '/v1/events?kind=node&name=n1');
    assert.deepEqual(events.items.filter((e) => e.reason === 'NodeDown'), [], 'no NodeDown event');
    const elected = await api<{ items: BerthEvent[] }>(b, `/v1/events?kind=server&name=${next}`);
    assert.ok(elected.items.some((e) => e.reason === 'LeaderElected'), 'LeaderElected recorded for the new leader');
  });

  it('a leader paused past its lease writes nothing once resumed: the store holds only the new leader\'s decisions', async () => {
    const oldName = (await leaderSeenBy(servers.get('b')!))!;
    const old = servers.get(oldName)!;
    const [other] = others(oldName);
    const otherName = [...servers.entries()].find(([, s]) => s === other)![0];

    if (agentOn === oldName) {
      // Pause a leader that holds no agent session: the new leader's work can then finish while
      // it is paused, and whatever changes after the resume could only be the old leader's.
      await moveAgent(otherName);
      await eventually(() => tasksSettled(4), 30_000, 'the agent back through the other server, its tasks running');
    }

    process.kill(old.pid, 'SIGSTOP');
    const pausedAt = Date.now();
    await eventually(async () => (await leaderSeenBy(other!)) === otherName, 10_000, 'the other server leads');
    const leaderKey = await store.get<{ name: string; version: number }>(serverKeys.leader);
    assert.equal(leaderKey?.name, otherName);
    // A decision that differs from the paused leader's view: scale web from 4 to 1.
    await api(other!, '/v1/services/web/scale', { method: 'POST', body: { replicas: 1 } });
    await eventually(() => tasksSettled(1), 30_000, 'the new leader scaled down to 1, the others removed, all settled');
    // Keep it paused well past its lease, then watch every change from the resume on.
    await new Promise((r) => setTimeout(r, Math.max(0, 4_000 - (Date.now() - pausedAt))));
    assert.ok(await tasksSettled(1), 'nothing left for the new leader to do');
    const from = (await store.revision()) + 1;
    const changes: { ev: WatchEvent<Task & { status: unknown }>; rev: number }[] = [];
    const stopWatch = await store.watch<Task>('tasks/', from, (ev, rev) => changes.push({ ev, rev }), () => undefined);
    const updates: WatchEvent<unknown>[] = [];
    const stopUpdates = await store.watch<unknown>('updates/', from, (ev) => updates.push(ev), () => undefined);
    const downs: WatchEvent<{ status: { state: string } }>[] = [];
    const stopNodes = await store.watch<{ status: { state: string } }>('nodes/', from, (ev) => {
      if (ev.type === 'put' && ev.value.status.state === 'down') downs.push(ev);
    }, () => undefined);
    const before = new Map((await store.list<Task>('tasks/web/')).items.map((t) => [t.id, t]));
    process.kill(old.pid, 'SIGCONT');

    // The resumed server notices it lost (lease gone, or a fenced write refused) and follows.
    await eventually(async () => (await serversOf(other!)).length === 2, 10_000, 'both servers registered again');
    await new Promise((r) => setTimeout(r, 5_000));
    await stopWatch();
    await stopUpdates();
    await stopNodes();
    assert.match(old.logTail() + '', /lost the leadership|not leading|server lease lost/, 'the old leader stepped down');
    assert.equal((await store.get<{ name: string; version: number }>(serverKeys.leader))?.version, leaderKey?.version, 'the new leader kept its term');
    const views = await serversOf(other!);
    assert.deepEqual(views.filter((s) => s.leader).map((s) => s.name), [otherName]);

    // No leader decision after the resume: no task created, deleted, re-assigned or told to change
    // its desired state; no rollout state written; no node marked down. (Agents' status reports
    // through the dispatchers are not decisions, and are allowed.)
    const decisions = changes.filter(({ ev }) => {
      if (ev.type === 'delete') return true;
      const prev = before.get(ev.value.id);
      if (!prev) return true;
      before.set(ev.value.id, ev.value);
      return prev.desiredState !== ev.value.desiredState || prev.nodeId !== ev.value.nodeId;
    });
    assert.deepEqual(decisions.map(({ ev, rev }) => `${ev.type} ${ev.key} @${rev}`), [], 'no leader writes after the resume');
    assert.deepEqual(updates, []);
    assert.deepEqual(downs, []);

    // The final state is the new leader's: one live task, no twin slots.
    const final = live((await store.list<Task>('tasks/web/')).items);
    assert.equal(final.length, 1);
    const slots = final.map((t) => t.slot);
    assert.equal(new Set(slots).size, slots.length, 'no twin tasks');
  });

  it('a rolling update in progress when the leader is killed completes on the new leader: one step per slot, none repeated', async () => {
    const leaderName = (await leaderSeenBy([...servers.values()][0]!))!;
    const [followerName] = [...servers.keys()].filter((n) => n !== leaderName);
    const follower = servers.get(followerName!)!;
    if (agentOn !== followerName) await moveAgent(followerName!);
    const manifest = (seconds: number) =>
      sleeperManifest('web', { replicas: 4, seconds, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1, extra: ['update:', '  parallelism: 1', '  monitorSeconds: 2'] });
    ok(await runBerth(['apply', '-f', '-'], { config: follower.configPath, input: manifest(600) }));
    await eventually(async () => {
      const t = live((await store.list<Task>('tasks/web/')).items);
      const u = await store.get<UpdateStatus>('updates/web');
      return t.length === 4 && t.every((x) => x.status.state === 'running' && x.spec.command?.[1] === '600') && (u?.state ?? 'completed') === 'completed';
    }, 90_000, '4 running on the old spec, no rollout in progress');
    ok(await runBerth(['apply', '-f', '-'], { config: follower.configPath, input: manifest(601) }));
    await eventually(async () => {
      const u = await store.get<UpdateStatus>('updates/web');
      return u?.state === 'updating' && u.steps >= 2;
    }, 60_000, 'the rollout half-way');

    await servers.get(leaderName)!.stop('SIGKILL');
    servers.delete(leaderName);
    await eventually(async () => (await leaderSeenBy(follower)) === followerName, 5_000, 'the follower leads');
    await assertRolloutCompletedOncePerSlot(store, 'web', 4, ['sleep', '601']);
  });
});
