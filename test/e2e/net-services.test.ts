// Service names across test hosts (issue's first test): three hosts, a client task on host A
// and a server service whose two tasks run only on hosts B and C. The client reaches the server
// by name (`srv` -> its virtual address, DNAT to a ready task), requests are spread over both
// tasks, each sees the client's own address; `tasks.srv` lists both tasks; a name resolves for a
// process that looks it up as its very first action. Killing one backend's container moves new
// connections to the other: once the control plane has seen it end (plus 1 s), no request fails
// and none goes to it.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';
import { addressesIn, clientServerManifest, plainAddress, requests } from '../helpers/net.js';

const REQUESTS = 24;

describe('e2e service names: a client on host A reaches a service on hosts B and C by name', function () {
  this.timeout(180_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('spreads requests, keeps the client address, lists tasks.srv, and drops a killed backend', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b', 'c'],
      prefix: 'svc',
      serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const a = hosts.host('a');
    const r = await runBerth(['apply', '-f', '-'], { config, input: clientServerManifest(a.nodeName) });
    assert.equal(r.code, 0, r.stderr);

    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running');
      return tasks.length === 3 && tasks.every((t) => t.status.address);
    }, 90_000, 'the three tasks running with cluster addresses');
    const client = tasks.find((t) => t.serviceName === 'client')!;
    const servers = tasks.filter((t) => t.serviceName === 'srv');
    const idOf = (key: string) => hosts.nodeIds.get(hosts.host(key).nodeName);
    assert.deepEqual(servers.map((t) => t.nodeId).sort(), [idOf('b'), idOf('c')].sort(), 'the server tasks are on B and C');
    const exec = async (script: string) => {
      const res = await runBerth(['exec', client.name, '--', 'sh', '-c', script], { config, timeoutMs: 120_000 });
      assert.equal(res.code, 0, `exec: ${res.stderr}`);
      return res.stdout;
    };

    // The names resolved for the client's very first action.
    const first = await exec('cat /first.txt');
    const vipOfClient = addressesIn(first, 'client');
    const vipOfSrv = addressesIn(first, 'srv');
    assert.equal(vipOfClient.length, 1, `its own name resolved at start:\n${first}`);
    assert.equal(vipOfSrv.length, 1, `srv resolved at start:\n${first}`);

    // tasks.srv: every ready task's address.
    const listed = addressesIn(await exec('nslookup tasks.srv'), 'tasks.srv').sort();
    assert.deepEqual(listed, servers.map((t) => t.status.address!).sort());

    // berth get endpoints: the VIP and the ready tasks behind it.
    const ep = await runBerth(['get', 'endpoints', 'srv', '-o', 'json'], { config });
    assert.equal(ep.code, 0, ep.stderr);
    const view = JSON.parse(ep.stdout) as { service: string; vip: string; endpoints: { task: string; node: string; address: string }[] };
    assert.equal(view.vip, vipOfSrv[0]);
    assert.deepEqual(view.endpoints.map((e) => e.address).sort(), servers.map((t) => t.status.address!).sort());
    assert.deepEqual(view.endpoints.map((e) => e.node).sort(), [hosts.host('b').nodeName, hosts.host('c').nodeName].sort());
    const described = await runBerth(['describe', 'service', 'srv'], { config });
    assert.match(described.stdout, new RegExp(`Virtual address:\\s+${vipOfSrv[0]!.replace(/\./g, '\\.')}\\n`));
    const table = await runBerth(['get', 'endpoints'], { config });
    assert.match(table.stdout, new RegExp(`^srv\\s+${vipOfSrv[0]!.replace(/\./g, '\\.')}\\s+`, 'm'));

    // By name: spread over both tasks, each sees the client's own address.
    const answers = (await exec(requests(REQUESTS))).trim().split('\n');
    assert.equal(answers.length, REQUESTS);
    assert.deepEqual(answers.filter((l) => l === 'FAIL'), [], 'no request failed');
    const remotes = new Set(answers.map((l) => plainAddress(l.split(' ')[0])));
    assert.deepEqual([...remotes], [client.status.address], 'the server sees the client task address');
    const byServer = new Map<string, number>();
    for (const l of answers) byServer.set(l.split(' ')[1] ?? '', (byServer.get(l.split(' ')[1] ?? '') ?? 0) + 1);
    assert.equal(byServer.size, 2, `requests spread over both tasks: ${JSON.stringify([...byServer])}`);

    // Kill B's backend: once the control plane saw it end, plus 1 s, nothing goes to it or fails.
    const b = hosts.host('b');
    const victim = servers.find((t) => t.nodeId === idOf('b'))!;
    const victimHost = (await b.docker('inspect', victim.name, '--format', '{{.Config.Hostname}}')).trim();
    await b.docker('kill', victim.name);
    await eventually(async () => (await listTasks(hosts.server)).find((t) => t.id === victim.id)?.status.state !== 'running', 30_000, 'the killed task seen ended');
    await new Promise((res) => setTimeout(res, 1000));
    const after = (await exec(requests(REQUESTS))).trim().split('\n');
    assert.deepEqual(after.filter((l) => l === 'FAIL'), [], 'no request failed after the window');
    assert.ok(after.every((l) => l.split(' ')[1] !== victimHost), 'no request reached the killed task');
  });
});
