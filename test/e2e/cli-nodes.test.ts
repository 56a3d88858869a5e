// The `berth` client's node and placement views against a real server and a real `berth agent`
// (process runtime, so tasks are plain host processes): NODE names, node tables, describe node.
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import type { Node, Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { ok, runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';

const SLEEPER = sleeperManifest('sleeper', { replicas: 2, seconds: 300, cpu: '100m', memory: '16Mi' });

describe('e2e: berth client with a node', function () {
  this.timeout(120_000);
  let server: TestServer;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });
  const tasks = async () => (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;

  before(async () => {
    server = await startServer();
    agent = startAgent(server, { name: 'node-a', labels: 'zone=a,disk=ssd', cpu: '2', memory: '2Gi' });
    await eventually(async () => {
      const r = await berth('get', 'nodes');
      return r.code === 0 && /^node-a +ready /m.test(r.stdout);
    }, 30_000, `node-a to be ready; agent said:\n${agent.logTail()}`);
  });

  after(async () => {
    // Delete first so the agent stops its task processes itself; stop() then kills any leftover.
    if (server && agent) {
      await berth('delete', 'service', 'sleeper');
      await eventually(async () => (await tasks()).length === 0, 20_000, 'tasks removed').catch(() => undefined);
    }
    await agent?.stop();
    await server?.stop();
  });

  it('get nodes: allocatable resources, task count and labels in every format', async () => {
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: SLEEPER }));
    await eventually(async () => {
      const items = await tasks();
      return items.length === 2 && items.every((t) => t.status.state === 'running');
    }, 60_000, 'two running tasks');

    const table = ok(await berth('get', 'nodes')).stdout.trimEnd().split('\n');
    assert.match(table[0] ?? '', /^NAME +STATUS +AVAILABILITY +CPU +MEMORY +TASKS +LABELS +AGE$/);
    assert.match(table[1] ?? '', /^node-a +ready +active +2 +2Gi +2 +disk=ssd,zone=a +\d+[smh]$/);
    const wide = ok(await berth('get', 'no', '-o', 'wide')).stdout;
    assert.match(wide, /^NAME .* AGE +ID +ADDRESS +RUNTIME +VERSION\nnode-a .* process +\d+\.\d+\.\d+$/m);
    const list = JSON.parse(ok(await berth('get', 'nodes', '-o', 'json')).stdout) as { items: (Node & { tasks: number })[] };
    assert.deepEqual(list.items.map((n) => [n.name, n.labels, n.allocatable.cpu, n.tasks]), [['node-a', { zone: 'a', disk: 'ssd' }, 2000, 2]]);
    const one = parseYaml(ok(await berth('get', 'node', 'node-a', '-o', 'yaml')).stdout) as Node;
    assert.equal(one.id, list.items[0]?.id);
  });

  it('get tasks names the node, filters by node, and shows the container in wide', async () => {
    const rows = ok(await berth('get', 'tasks')).stdout.trimEnd().split('\n').slice(1);
    assert.equal(rows.length, 2);
    for (const r of rows) assert.match(r, /^sleeper\.\d\.\S+ +sleeper +node-a +running +running +\d+ +\d+s$/);
    const onNode = ok(await berth('get', 'tasks', '--node', 'node-a')).stdout.trimEnd().split('\n');
    assert.equal(onNode.length, 3);
    const wide = ok(await berth('get', 'tasks', '-o', 'wide')).stdout.trimEnd().split('\n');
    assert.match(wide[0] ?? '', / PORTS +CONTAINER$/);
    const ids = (await tasks()).map((t) => t.status.containerId);
    assert.ok(ids.every(Boolean), 'the agent reported container ids');
    for (const id of ids) assert.match(wide.join('\n'), new RegExp(` ${(id ?? '').slice(0, 12).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it('describe node shows labels, capacity, what its tasks request, and its tasks', async () => {
    const text = ok(await berth('describe', 'node', 'node-a')).stdout;
    assert.match(text, /^Status: +ready/m);
    assert.match(text, /^Runtime: +process$/m);
    assert.match(text, /^Labels:\n {2}disk=ssd\n {2}zone=a$/m);
    assert.match(text, /^Allocatable:\n {2}CPU: +2\n {2}Memory: +2Gi$/m);
    assert.match(text, /^Requested by tasks:\n {2}CPU: +200m \(10%\)\n {2}Memory: +32Mi \(2%\)$/m);
    assert.match(text, /^Tasks:\n {2}NAME +SERVICE +DESIRED +STATE +RESTARTS +AGE +MESSAGE\n( {2}sleeper\.\d\.\S+ +sleeper +running +running +\d+ +\d+s\n?){2}$/m);
  });

  it('describe task shows the node by name and id and the running state', async () => {
    const [task] = await tasks();
    assert.ok(task?.nodeId);
    const text = ok(await berth('describe', 'task', task.name)).stdout;
    assert.match(text, new RegExp(`^Node: +node-a \\(${task.nodeId}\\)$`, 'm'));
    assert.match(text, /^State: +running since /m);
    assert.match(text, /^Container: +\S+$/m);
    assert.doesNotMatch(text, /^Container: +<none>$/m);
  });
});
