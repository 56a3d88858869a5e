// The test-host fixture: two hosts, each a network namespace with its own dockerd and agent. A
// global service puts one task on each; each task runs in its own host's engine (and in no other,
// nor in this machine's), and stop() leaves no namespace, bridge, dockerd or mount behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker } from '../helpers/docker.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';

const run = promisify(execFile);

const manifest = `apiVersion: berth/v1
kind: Service
metadata:
  name: everywhere
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sleep", "3600"]
  mode: global
  stopGracePeriodSeconds: 1
  resources:
    cpu: 100m
    memory: 16Mi
`;

describe('e2e test hosts: namespaces with a dockerd and an agent each', function () {
  this.timeout(180_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('runs each host task in that host engine, and stop() removes every part', async () => {
    const hosts = await startTestHosts({ hosts: ['a', 'b'], prefix: 'th' });
    th = hosts;
    const a = hosts.host('a');
    const b = hosts.host('b');
    assert.notEqual(a.address, b.address);
    // Each host reaches the other at its own address over the bridge.
    await a.exec('busybox', ['ping', '-c', '1', '-W', '2', b.address]);

    const r = await runBerth(['apply', '-f', '-'], { config: hosts.server.configPath, input: manifest });
    assert.equal(r.code, 0, r.stderr);
    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server, '--service', 'everywhere')).filter((t) => t.status.state === 'running');
      return tasks.length === 2;
    }, 90_000, 'a running task on each host');

    for (const h of [a, b]) {
      const nodeId: string | undefined = hosts.nodeIds.get(h.nodeName);
      const task = tasks.find((t) => t.nodeId === nodeId);
      assert.ok(task, `a task on ${h.nodeName}`);
      const names = (await h.docker('ps', '--format', '{{.Names}}')).split('\n');
      assert.deepEqual(names, [task.name], `${h.key}'s engine runs exactly its own task`);
    }
    const onMachine = await docker('ps', '-q', '--filter', 'label=berth.service=everywhere');
    assert.equal(onMachine, '', "this machine's engine runs none of them");

    const made = { bridge: hosts.bridge, netns: hosts.hosts.map((h) => h.netns), sockets: hosts.hosts.map((h) => h.dockerSocket) };
    await hosts.stop();
    th = undefined;
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    assert.ok(!links.includes(made.bridge), 'bridge removed');
    assert.ok(!(await run('iptables', ['-S', 'FORWARD'])).stdout.includes(made.bridge), 'FORWARD rule removed');
    const netns = (await run('ip', ['netns', 'list'])).stdout;
    for (const n of made.netns) assert.ok(!netns.includes(n), `namespace ${n} removed`);
    for (const s of made.sockets) assert.ok(!existsSync(s), `${s} removed`);
    const mounts = readFileSync('/proc/mounts', 'utf8');
    for (const s of made.sockets) assert.ok(!mounts.includes(s.replace(/\/docker\.sock$/, '')), 'no mount left under the host dir');
  });
});
