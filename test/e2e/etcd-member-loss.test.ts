// The loss of one etcd member of three changes nothing a user sees: a `berth server --no-agent`
// given all three endpoints keeps answering apply, scale and get at once (its client skips the
// dead member and re-opens its watches on another), its controllers carry the changes out, and
// the member, started again on its data dir, rejoins the cluster. Once a follower, once the leader.
import assert from 'node:assert/strict';
import type { Service, Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../helpers/etcd-cluster.js';
import { ok, runBerth, startServer, type TestServer } from '../helpers/berth.js';
import { sleeperManifest } from '../helpers/manifest.js';

const liveTasks = (tasks: Task[], service: string) => tasks.filter((t) => t.serviceName === service && t.desiredState === 'running');

/** A member etcd reports as its leader (whose loss is also an election) or as a follower. */
async function memberWhoIs(cluster: EtcdCluster, role: 'leader' | 'follower'): Promise<EtcdMember> {
  for (const m of cluster.members) {
    const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
    const status = (await res.json()) as { header: { member_id: string }; leader: string };
    if ((status.header.member_id === status.leader) === (role === 'leader')) return m;
  }
  throw new Error(`no ${role} found`);
}

describe('etcd member loss: one member of three down changes nothing a user sees', function () {
  this.timeout(180_000);
  let cluster: EtcdCluster | undefined;
  let server: TestServer | undefined;

  before(async () => {
    cluster = await startEtcdCluster(3);
    server = await startServer({ extraArgs: ['--etcd', cluster.endpoints.join(',')] });
  });

  after(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  for (const role of ['follower', 'leader'] as const) {
      it(`keeps answering apply, scale and get with a ${role} down, and the member rejoins`, async () => {
      const s = server!;
      const c = cluster!;
      const call = async <T>(method: string, p: string, body?: unknown) => {
        const started = Date.now();
        const res = await s.fetch(s.url + p, {
          method,
          headers: { authorization: `Bearer ${s.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        const json = (await res.json()) as T;
        assert.equal(res.status, 200, `${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
        return { body: json, ms: Date.now() - started };
      };
      const tasksOf = async (service: string) => liveTasks((await call<{ items: Task[] }>('GET', '/v1/tasks')).body.items, service);
      ok(await runBerth(['apply', '-f', '-'], { config: s.configPath, input: sleeperManifest('web', { replicas: 2 }) }));
      await eventually(async () => (await tasksOf('web')).length === 2, 20_000, '2 web tasks');

      // A leader's loss is also an election (about a second, etcd's election timeout): calls wait for it.
      const lost = await memberWhoIs(c, role);
      await lost.kill('SIGKILL');

      // At once, and for a while: every call answers, whichever member the client picks.
      const slowest: number[] = [];
      for (let i = 0; i < 10; i++) {
        const applied = await call<{ items: unknown[] }>('POST', '/v1/apply', { items: [{ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: `extra-${role}-${i}` }, spec: { image: 'busybox', command: ['sleep', '3600'], replicas: 0 } }] });
        const scaled = await call<Service>('POST', '/v1/services/web/scale', { replicas: 2 + (i % 3) });
        const got = await call<Service>('GET', '/v1/services/web');
        const listed = await call<{ items: Task[] }>('GET', '/v1/tasks?service=web');
        slowest.push(Math.max(applied.ms, scaled.ms, got.ms, listed.ms));
      }
      console.log(`      with ${lost.name} (${role}) down: slowest call of each round ${slowest.join(', ')} ms`);
      ok(await runBerth(['scale', 'service', 'web', '--replicas', '3'], { config: s.configPath }));
      ok(await runBerth(['get', 'services'], { config: s.configPath }));
      // The controllers (their watches re-opened on a live member) carry the last scale out.
      await eventually(async () => (await tasksOf('web')).length === 3, 15_000, '3 web tasks with a member down');

      // The member started again rejoins: healthy, and the cluster lists all three.
      lost.start();
      await eventually(() => lost.healthy(), 30_000, `${lost.name} healthy again`);
      assert.deepEqual(await c.memberNames(), ['m0', 'm1', 'm2']);
      assert.ok((await Promise.all(c.members.map((m) => m.healthy()))).every(Boolean), 'all members healthy');
      ok(await runBerth(['scale', 'service', 'web', '--replicas', '1'], { config: s.configPath }));
      await eventually(async () => (await tasksOf('web')).length === 1, 15_000, '1 web task after the member rejoined');
    });
  }
});
