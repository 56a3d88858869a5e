// Three `berth server`s on the host sharing an external 3-member etcd that runs in Docker
// containers (testcontainers, a user-defined network, berth/etcd-test:3.4 built from the host's
// etcd), as an operator would run it; an agent (process runtime) joined to a follower.
// - One member's container stopped (the etcd leader's): nothing a user sees changes: apply, scale
//   and get through the CLI answer on every server, and the leader keeps scheduling (the new
//   tasks are placed and run). The member, started again, rejoins.
// - Two members stopped (quorum lost): writes answer 503 (the API and the CLI say etcd did not
//   answer) on every server, and change nothing (read from etcd afterwards); reads (`berth get
//   services`, tasks) answer from the servers' caches. Both started again: writes work again, one
//   server leads, and the changes made then are carried out.
// Cleans up its servers, agent, containers, network (and the image if it built it), even on failure.
import assert from 'node:assert/strict';
import type { ServiceView } from '../../cli/api-client.js';
import type { Task } from '../../common/types.js';
import { ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { eventually } from '../helpers/etcd.js';
import { ensureEtcdImage, removeEtcdImage, startEtcdContainers, type EtcdContainerCluster, type EtcdContainerMember } from '../helpers/etcd-containers.js';
import { sleeperManifest } from '../helpers/manifest.js';

process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

interface ServerView {
  name: string;
  leader: boolean;
}

/** The 503's message: etcd not answering (refused unsent), or not answering in time. */
const STORE_DOWN = /the cluster store \(etcd\) (is not answering; nothing was changed|did not answer in time)/;

/** A key's value read from etcd itself (its HTTP gateway, a linearizable read), or undefined. */
async function etcdGet(clientUrl: string, key: string): Promise<string | undefined> {
  const res = await fetch(`${clientUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(key).toString('base64') }), signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`etcd answered ${res.status}`);
  const kv = ((await res.json()) as { kvs?: { value: string }[] }).kvs?.[0];
  return kv ? Buffer.from(kv.value, 'base64').toString() : undefined;
}

const sleeper = (name: string, replicas: number) => sleeperManifest(name, { replicas, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1 });

describe('e2e: servers on an external etcd in containers (one member lost, then two)', function () {
  this.timeout(180_000);
  let imageBuilt = false;
  let etcd: EtcdContainerCluster | undefined;
  const servers: TestServer[] = [];
  let agent: TestAgent | undefined;

  const cli = (s: TestServer, args: string[], input?: string) => runBerth(args, { config: s.configPath, ...(input !== undefined ? { input } : {}) });
  /** GET through the API (polls; the CLI is what the checks use). */
  const get = async <T>(s: TestServer, p: string): Promise<T> => {
    const res = await s.fetch(`${s.url}${p}`, { headers: { authorization: `Bearer ${s.token}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const runningOf = async (s: TestServer, service: string) =>
    (await get<{ items: Task[] }>(s, `/v1/tasks?service=${service}`)).items.filter((t) => t.desiredState === 'running' && t.status.state === 'running').length;
  const leaders = async (s: TestServer) => (await get<{ items: ServerView[] }>(s, '/v1/servers')).items.filter((v) => v.leader).map((v) => v.name);

  before(async () => {
    imageBuilt = await ensureEtcdImage();
    etcd = await startEtcdContainers(3);
    const endpoints = etcd.endpoints.join(',');
    const start = (name: string, tokensFrom?: TestServer) => startServer({ extraArgs: ['--name', name, '--etcd', endpoints], ...(tokensFrom ? { tokensFrom } : {}) });
    const a = await start('a');
    servers.push(a);
    // b and c share a's CA and tokens; after() stops whichever started, even if the other failed.
    const rest = await Promise.allSettled([start('b', a), start('c', a)]);
    for (const r of rest) if (r.status === 'fulfilled') servers.push(r.value);
    for (const r of rest) if (r.status === 'rejected') throw r.reason;
    agent = startAgent(servers[1]!, { name: 'n1' });
    await waitNodesReady(servers[0]!, [agent]);
  });

  after(async () => {
    await agent?.stop();
    for (const s of servers) await s.stop();
    await etcd?.remove();
    await removeEtcdImage(imageBuilt);
  });

  it('one member stopped: apply, scale and get answer on every server and the leader keeps scheduling', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    ok(await cli(a, ['apply', '-f', '-'], sleeper('web', 2)));
    await eventually(async () => (await runningOf(a, 'web')) === 2, 30_000, '2 web tasks running');

    const lostName = await etcd!.leaderName();
    const lost = etcd!.members.find((m) => m.name === lostName)!;
    await lost.stop();
    assert.equal(await lost.healthy(), false, `${lostName} stopped`);

    ok(await cli(b, ['apply', '-f', '-'], sleeper('api', 1)));
    ok(await cli(c, ['scale', 'service', 'web', '--replicas', '3']));
    for (const r of await Promise.all(servers.map((s) => cli(s, ['get', 'services'])))) {
      assert.match(ok(r).stdout, /^web +/m);
      assert.match(r.stdout, /^api +/m);
    }
    // The leader (elected before, or again if its lease lapsed during etcd's own election) places
    // the new tasks and the agent runs them.
    await eventually(async () => (await runningOf(a, 'web')) === 3 && (await runningOf(a, 'api')) === 1, 30_000, 'web 3 and api 1 running with a member down');
    assert.equal((await leaders(c)).length, 1, 'one server leads');

    await lost.start();
    await eventually(() => lost.healthy(), 30_000, `${lostName} healthy again`);
    assert.deepEqual(await Promise.all(etcd!.members.map((m) => m.healthy())), [true, true, true]);
  });

  it('two members stopped: writes answer 503 and change nothing, reads answer from caches; restarted, writes work again', async () => {
    const [a, b, c] = servers as [TestServer, TestServer, TestServer];
    for (const s of servers) await get(s, '/v1/tasks'); // every server's task cache is warm
    const stopped: EtcdContainerMember[] = etcd!.members.slice(0, 2);
    await Promise.all(stopped.map((m) => m.stop()));
    try {
      // The API: 503 ServiceUnavailable, nothing was changed.
      const res = await a.fetch(`${a.url}/v1/services/web/scale`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ replicas: 1 }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.error, 'ServiceUnavailable');
      // The CLI, on every server: a write fails and says why (etcd refused it unsent, or took
      // it and could not commit it before the deadline: both are a 503).
      const [scaled, applied] = await Promise.all([
        Promise.all(servers.map((s) => cli(s, ['scale', 'service', 'web', '--replicas', '1']))),
        cli(c, ['apply', '-f', '-'], sleeper('late', 1)),
      ]);
      for (const [i, r] of scaled.entries()) {
        assert.notEqual(r.code, 0, `scale through ${servers[i]!.url} answered: ${r.stdout}`);
        assert.match(r.stderr, STORE_DOWN);
      }
      assert.notEqual(applied.code, 0);
      assert.match(applied.stderr, STORE_DOWN);
      // Reads answer from each server's caches: the services and tasks as they were.
      const lists = await Promise.all(servers.map((s) => cli(s, ['get', 'services'])));
      for (const [i, s] of servers.entries()) {
        const listed = ok(lists[i]!).stdout;
        assert.match(listed, /^web +/m);
        assert.match(listed, /^api +/m);
        assert.doesNotMatch(listed, /^late +/m);
        const web = await get<ServiceView>(s, '/v1/services/web');
        assert.equal(web.spec.replicas, 3);
        const tasks = (await get<{ items: Task[] }>(s, '/v1/tasks?service=web')).items;
        assert.equal(tasks.filter((t) => t.desiredState === 'running').length, 3);
      }
    } finally {
      await Promise.all(stopped.map((m) => m.start()));
    }
    await eventually(async () => (await Promise.all(etcd!.members.map((m) => m.healthy()))).every(Boolean), 30_000, 'all members healthy again');
    // Nothing of the refused writes reached etcd (read from etcd itself, linearizable).
    const stored = await etcdGet(etcd!.endpoints[2]!, '/berth/services/web');
    assert.equal((JSON.parse(stored!) as ServiceView).spec.replicas, 3, 'the refused scales changed nothing');
    assert.equal(await etcdGet(etcd!.endpoints[2]!, '/berth/services/late'), undefined, 'the refused apply created nothing');
    // Writes work again, through every server.
    await eventually(async () => (await cli(b, ['scale', 'service', 'web', '--replicas', '4'])).code === 0, 30_000, 'a scale accepted after the restart');
    ok(await cli(c, ['apply', '-f', '-'], sleeper('late', 1)));
    ok(await cli(a, ['scale', 'service', 'api', '--replicas', '2']));
    await eventually(async () => (await leaders(a)).length === 1, 20_000, 'one server leads');
    await eventually(
      async () => (await runningOf(a, 'web')) === 4 && (await runningOf(a, 'api')) === 2 && (await runningOf(a, 'late')) === 1,
      45_000,
      'web 4, api 2 and late 1 running after the restart',
    );
  });
});
