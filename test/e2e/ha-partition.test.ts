// A leader cut off from the other servers. Three servers, each in a network namespace of its own
// on one bridge (test/helpers/bridge-net.ts), formed with `--join` (a 3-member etcd whose peers
// talk over the bridge), and two process-runtime agents on this machine joined through the
// second server. Cutting the first server's link (packets just stop) must make it step down: its
// etcd member is in the minority, so its lease cannot be renewed. The two others elect a leader
// that keeps scheduling; once the link is back there is one leader and the exact replica count.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { startBridgeNet, type BridgeNet, type NetNamespace } from '../helpers/bridge-net.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { berthJson, listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';

interface ServerRow {
  name: string;
  leader: boolean;
}

describe('e2e: a partitioned leader (servers in network namespaces, joined etcd)', function () {
  this.timeout(300_000);
  const run = randomBytes(3).toString('hex');
  let net: BridgeNet | undefined;
  const ns: NetNamespace[] = [];
  const servers: TestServer[] = [];
  const agents: TestAgent[] = [];
  /** The CLI through server `i` (its berth.yaml lists every server; `--server` pins this one). */
  const via = (i: number, ...args: string[]) => runBerth(['--server', servers[i]!.url, ...args], { config: servers[i]!.configPath });
  const serversVia = async (i: number) => JSON.parse(ok(await via(i, 'get', 'servers', '-o', 'json')).stdout) as { items: ServerRow[] };
  const running = async (i: number) => {
    const tasks = JSON.parse(ok(await via(i, 'get', 'tasks', '--service', 'sleeper', '-o', 'json')).stdout) as { items: Task[] };
    return tasks.items.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
  };

  before(async function () {
    this.timeout(180_000);
    net = await startBridgeNet();
    for (let i = 0; i < 3; i++) ns.push(await net.addNamespace(i));
    const first = await startServer({ namespace: ns[0]!, extraArgs: ['--name', `s1-${run}`] });
    servers.push(first);
    for (const i of [1, 2]) {
      servers.push(
        await startServer({
          namespace: ns[i]!,
          extraArgs: ['--name', `s${i + 1}-${run}`, '--join', `${ns[0]!.address}:7071`, '--token-file', path.join(first.dataDir, 'manager-token')],
        }),
      );
    }
    for (const n of ['a', 'b']) agents.push(startAgent(servers[1]!, { name: `part-${run}-${n}`, serverAddress: `${ns[1]!.address}:7071` }));
    await waitNodesReady(servers[1]!, agents);
    ok(await runBerth(['--server', servers[1]!.url, 'apply', '-f', '-'], { config: servers[1]!.configPath, input: sleeperManifest('sleeper', { replicas: 4 }) }));
    await eventually(async () => ((await running(1)).length === 4 ? true : undefined), 60_000, 'four running tasks');
  });

  after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await ns[0]?.restore().catch(() => undefined);
    for (const s of servers) await s.stop('SIGKILL').catch(() => undefined);
    await net?.stop();
  });

  it('the cut-off leader steps down, the majority elects a leader that schedules, and after the heal one leader and exact replicas remain', async () => {
    const [s1, s2, s3] = [`s1-${run}`, `s2-${run}`, `s3-${run}`];
    const before = await serversVia(1);
    assert.deepEqual(before.items.filter((s) => s.leader).map((s) => s.name), [s1], 'the first server leads');

    await ns[0]!.cut();
    const stepped = await eventually(() => Promise.resolve(/lost the leadership/.test(servers[0]!.logTail()) ? true : undefined), 30_000, `s1 steps down; its log:\n${servers[0]!.logTail()}`);
    assert.ok(stepped);
    const newLeader = await eventually(async () => {
      const rows = (await serversVia(1)).items.filter((s) => s.leader).map((s) => s.name);
      return rows.length === 1 && rows[0] !== s1 ? rows[0] : undefined;
    }, 30_000, 'a leader among s2 and s3');
    assert.ok(newLeader === s2 || newLeader === s3, String(newLeader));

    // The majority side decides: a scale made through s3 is carried out.
    ok(await via(2, 'scale', 'service', 'sleeper', '--replicas', '5'));
    await eventually(async () => ((await running(1)).length === 5 ? true : undefined), 60_000, 'five running tasks while s1 is cut off');

    await ns[0]!.restore();
    const healed = await eventually(async () => {
      const rows = (await serversVia(0).catch(() => undefined))?.items;
      if (!rows || rows.length !== 3) return undefined;
      const leaders = rows.filter((s) => s.leader).map((s) => s.name);
      return leaders.length === 1 ? leaders[0] : undefined;
    }, 60_000, 'three servers and one leader, seen through s1');
    assert.ok(healed, 'one leader');
    // Exact replicas: five live tasks, one per slot, through every server.
    for (const i of [0, 1, 2]) {
      const live = (await listTasks(servers[i]!, '--service', 'sleeper')).filter((t) => t.desiredState === 'running');
      assert.deepEqual(live.map((t) => t.slot).sort(), [1, 2, 3, 4, 5], `through server ${i + 1}`);
    }
    const nodes = await berthJson<{ items: { status: { state: string } }[] }>(servers[1]!, 'get', 'nodes');
    assert.ok(nodes.items.every((n) => n.status.state === 'ready'), 'every node ready');
  });
});
