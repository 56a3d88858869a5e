// Service names when a backend's node is lost: three test hosts, a client on A, the server's two
// tasks on B and C. B's link is cut (the host and its containers just go silent); once the
// control plane has marked B down (heartbeat grace 2 s), plus 1 s, every request by name
// succeeds and goes to C's task, and `berth get endpoints` lists C's task only. `berth node rm` of
// B then frees its subnet block (its claim leaves the store with the node).
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listNodes, listTasks, runBerth } from '../helpers/berth.js';
import { clientServerManifest, requests } from '../helpers/net.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';


const REQUESTS = 12;

/** The keys under `prefix` in the server's embedded etcd. */
async function etcdKeys(url: string | undefined, prefix: string): Promise<string[]> {
  assert.ok(url, 'the server printed its etcd URL');
  const client = new Etcd3({ hosts: url });
  try {
    return await client.getAll().prefix(prefix).keys();
  } finally {
    client.close();
  }
}

describe('e2e service names: a backend node cut off', function () {
  this.timeout(180_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('moves new connections to the other node once the node is down', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b', 'c'],
      prefix: 'nloss',
      serverArgs: ['--heartbeat-grace', '2', '--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const [a, b, c] = [hosts.host('a'), hosts.host('b'), hosts.host('c')];
    const r = await runBerth(['apply', '-f', '-'], { config, input: clientServerManifest(a.nodeName) });
    assert.equal(r.code, 0, r.stderr);
    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running');
      return tasks.length === 3 && tasks.every((t) => t.status.address);
    }, 90_000, 'the three tasks running with cluster addresses');
    const client = tasks.find((t) => t.serviceName === 'client')!;
    const onC = tasks.find((t) => t.serviceName === 'srv' && t.nodeId === hosts.nodeIds.get(c.nodeName))!;
    assert.ok(onC, 'a server task on C');
    const hostnameOnC = await c.docker('inspect', onC.name, '--format', '{{.Config.Hostname}}');
    const exec = async (script: string) => {
      const res = await runBerth(['exec', client.name, '--', 'sh', '-c', script], { config, timeoutMs: 120_000 });
      assert.equal(res.code, 0, `exec: ${res.stderr}`);
      return res.stdout.trim().split('\n');
    };
    assert.equal(new Set((await exec(requests(REQUESTS))).map((l) => l.split(' ')[1])).size, 2, 'both tasks answer before the cut');

    await b.cut();
    await eventually(async () => (await listNodes(hosts.server)).find((n) => n.name === b.nodeName)?.status.state === 'down', 60_000, 'B marked down');
    await new Promise((res) => setTimeout(res, 1000));
    const after = await exec(requests(REQUESTS));
    assert.deepEqual(after.filter((l) => l === 'FAIL'), [], 'no request failed after the window');
    assert.deepEqual([...new Set(after.map((l) => l.split(' ')[1]))], [hostnameOnC], 'every request went to C');
    const ep = await runBerth(['get', 'endpoints', 'srv', '-o', 'json'], { config });
    assert.deepEqual((JSON.parse(ep.stdout) as { endpoints: { node: string }[] }).endpoints.map((e) => e.node), [c.nodeName], 'only C\'s task is an endpoint');

    // berth node rm frees B's subnet block: the claim is gone from the store with the node.
    const subnetOfB = (await listNodes(hosts.server)).find((n) => n.name === b.nodeName)?.subnet;
    assert.ok(subnetOfB, 'B had a subnet');
    const rm = await runBerth(['node', 'rm', b.nodeName], { config });
    assert.equal(rm.code, 0, rm.stderr);
    const claims = await etcdKeys(hosts.server.etcdUrl?.(), '/berth/subnets/');
    assert.ok(claims.length >= 2, `the other nodes' claims are there: ${claims.join(', ')}`);
    assert.ok(!claims.includes(`/berth/subnets/${subnetOfB.replace('/', '-')}`), `B's block ${subnetOfB} is free: ${claims.join(', ')}`);
  });
});
