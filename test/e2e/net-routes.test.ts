// The cluster network across test hosts: with --node-subnets, each host's agent puts its tasks
// on a subnet of its own and routes the other host's subnet via that host's address. A task on
// host A reaches a task on host B at the task's own address, and B's task sees A's task's own
// address as the client (nothing masqueraded between the subnets).
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { BUSYBOX_IMAGE } from '../helpers/docker.js';
import { httpGet, plainAddress, WHO_SCRIPT } from '../helpers/net.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';

const manifest = (nodeA: string, nodeB: string) => `apiVersion: berth/v1
kind: Service
metadata:
  name: who
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sh", "-c", ${JSON.stringify(WHO_SCRIPT)}]
  replicas: 1
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name == ${nodeB}"]
  resources: { cpu: 100m, memory: 16Mi }
---
apiVersion: berth/v1
kind: Service
metadata:
  name: caller
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sleep", "3600"]
  replicas: 1
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name == ${nodeA}"]
  resources: { cpu: 100m, memory: 16Mi }
`;

describe('e2e cluster network: per-node subnets routed between test hosts', function () {
  this.timeout(180_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('a task on host A reaches a task on host B at its own address, and B sees A task address', async () => {
    const hosts = await startTestHosts({ hosts: ['a', 'b'], prefix: 'net', serverArgs: ['--node-subnets', '{range}.128.0/17'] });
    th = hosts;
    const a = hosts.host('a');
    const b = hosts.host('b');
    const r = await runBerth(['apply', '-f', '-'], { config: hosts.server.configPath, input: manifest(a.nodeName, b.nodeName) });
    assert.equal(r.code, 0, r.stderr);

    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running');
      return tasks.length === 2;
    }, 90_000, 'both tasks running');
    const who = tasks.find((t) => t.serviceName === 'who')!;
    const caller = tasks.find((t) => t.serviceName === 'caller')!;

    // Each engine has the cluster network on a subnet of its own, and the task on it.
    const subnetOf = (h: typeof a) => h.docker('network', 'inspect', 'berth', '--format', '{{(index .IPAM.Config 0).Subnet}}');
    const [subnetA, subnetB] = [await subnetOf(a), await subnetOf(b)];
    assert.notEqual(subnetA, subnetB);
    const ipOf = (h: typeof a, name: string) => h.docker('inspect', name, '--format', '{{.NetworkSettings.Networks.berth.IPAddress}}');
    const whoIp = await ipOf(b, who.name);
    const callerIp = await ipOf(a, caller.name);
    assert.ok(whoIp.startsWith(subnetB.split('.').slice(0, 3).join('.') + '.'), `${whoIp} in ${subnetB}`);
    assert.ok(callerIp.startsWith(subnetA.split('.').slice(0, 3).join('.') + '.'), `${callerIp} in ${subnetA}`);

    // From the caller task (berth exec, so through the agent on A), to the who task's address on B.
    let answer = '';
    await eventually(async () => {
      const res = await runBerth(['exec', caller.name, '--', 'sh', '-c', httpGet(whoIp, '/cgi-bin/who')], { config: hosts.server.configPath });
      answer = res.stdout.trim().split('\n').pop() ?? '';
      return res.code === 0 && answer !== '';
    }, 30_000, 'the caller on A to get an answer from the task on B');
    const [remoteText, name] = answer.split(' ');
    const remote = plainAddress(remoteText);
    assert.equal(remote, callerIp, `the task on B sees the caller's own address (got "${answer}")`);
    assert.ok(name, 'the answer names the server container');

    // The path crosses the hosts' own addresses: A routes B's subnet via B's address.
    const routes = await a.exec('ip', ['-4', 'route', 'show', subnetB]);
    assert.match(routes, new RegExp(`via ${b.address.replace(/\./g, '\\.')}`));
  });
});
