// Placement as a user sees it, on real docker agents (zone=a, zone=b, zone=b, 256Mi each):
// constraints choose the nodes, a task no node can take stays pending with the reason in
// `get tasks` and `describe task` until a fitting node joins, and memory requests are both
// checked against the nodes and enforced as the container's memory limit.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { containersOfNode, inspectContainer } from '../helpers/docker.js';

const service = (name: string, replicas: number, extra: string[]): string =>
  sleeperManifest(name, { replicas, stopGracePeriodSeconds: 1, extra: extra.map((l) => l.slice(2)) });

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('e2e cluster: placement constraints and resources', function () {
  this.timeout(240_000);
  let cluster: TestCluster | undefined;
  let [n1, n2, n3, n4] = ['', '', '', ''];
  let server: TestServer | undefined;
  let agents: TestAgent[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const apply = async (yaml: string) => ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: yaml }));
  const tasksOf = async (svc: string) => (await listTasks(server!, '--service', svc)).filter((t) => t.desiredState === 'running');
  /** An agent of zone `zone` with 256Mi (suffix `name`). */
  const zoned = (name: string, zone: string) => ({ name, labels: `zone=${zone}`, cpu: '2', memory: '256Mi' });
  /** The one pending task of `svc`, once its message says why it is not placed. */
  const pendingWith = async (svc: string, why: RegExp): Promise<Task> => {
    const t = await eventually(async () => {
      const [task, ...more] = await tasksOf(svc);
      return task && !more.length && task.status.state === 'pending' && why.test(task.status.message ?? '') ? task : undefined;
    }, 60_000, `a pending task of ${svc} explained by ${why}`);
    if (!t) throw new Error('unreachable');
    return t;
  };

  before(async function () {
    this.timeout(300_000);
    cluster = await startCluster({ agents: [zoned('n1', 'a'), zoned('n2', 'b'), zoned('n3', 'b')], readyTimeoutMs: 60_000 });
    ({ server, agents } = cluster);
    [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'].map((n) => cluster!.nodeName(n)) as [string, string, string, string];
  });

  after(async () => {
    await cluster?.stop();
  });

  it('a service constrained to node.labels.zone == b runs only on the zone-b nodes', async () => {
    await apply(service('zoned', 4, ['  placement:', '    constraints: ["node.labels.zone == b"]', '  resources:', '    memory: 16Mi']));
    await eventually(async () => {
      const tasks = await tasksOf('zoned');
      return tasks.length === 4 && tasks.every((t) => t.status.state === 'running');
    }, 120_000, 'four running tasks of zoned');
    const [onA, onB1, onB2] = [await containersOfNode(n1), await containersOfNode(n2, { running: true }), await containersOfNode(n3, { running: true })];
    assert.deepEqual(onA, [], 'no container on the zone-a node');
    assert.equal(onB1.length + onB2.length, 4);
    assert.ok(onB1.length > 0 && onB2.length > 0, 'both zone-b nodes take replicas');
  });

  it('a service no node satisfies stays pending, explained, until a zone=c agent joins', async () => {
    await apply(service('zone-c', 1, ['  placement:', '    constraints: ["node.labels.zone == c"]']));
    const reason = '0/3 nodes available: 3 constraint node.labels.zone == c not met';
    const task = await pendingWith('zone-c', new RegExp(`^${escape(reason)}$`));
    assert.equal(task.status.reason, 'Unschedulable');
    assert.equal(task.nodeId, undefined);

    const table = ok(await berth('get', 'tasks', '--service', 'zone-c')).stdout;
    // NAME SERVICE NODE DESIRED STATE ... MESSAGE (the columns between may grow).
    assert.match(table, new RegExp(`^${escape(task.name)} +zone-c +<none> +running +pending +.* ${escape(reason)}$`, 'm'));
    const described = ok(await berth('describe', 'task', task.name)).stdout;
    assert.match(described, /^State: +pending since /m);
    assert.match(described, new RegExp(`^Message: +${escape(reason)}$`, 'm'));

    const zoneC = cluster!.join(zoned('n4', 'c'));
    const nodeIds = await waitNodesReady(server!, [zoneC]);
    const placed = await eventually(async () => {
      const [t] = await tasksOf('zone-c');
      return t?.status.state === 'running' ? t : undefined;
    }, 120_000, 'the zone-c task running once a zone=c node joined');
    assert.equal(placed?.nodeId, nodeIds.get(n4));
    const [container] = await containersOfNode(n4, { running: true });
    assert.ok(container, `a container runs on ${n4}`);
    assert.equal((await inspectContainer(container)).Config.Labels['berth.service'], 'zone-c');
  });

  it('memory: 512Mi never fits a 256Mi node; 64Mi runs with a 64Mi container limit', async () => {
    await apply(service('big', 1, ['  resources:', '    memory: 512Mi']));
    const n = agents.length;
    const tooBig = `0/${n} nodes available: ${n} insufficient memory`;
    const big = await pendingWith('big', new RegExp(`^${escape(tooBig)}$`));
    assert.equal(big.status.reason, 'Unschedulable');

    await apply(service('small', 1, ['  resources:', '    memory: 64Mi']));
    const small = await eventually(async () => {
      const [t] = await tasksOf('small');
      return t?.status.state === 'running' && t.status.containerId ? t : undefined;
    }, 120_000, 'the small task running');
    const inspected = await inspectContainer(small!.status.containerId!);
    assert.equal(inspected.HostConfig.Memory, 67108864);
    assert.equal(inspected.Config.Labels['berth.task'], small!.id);

    // The scheduler has made passes since (it placed `small`): big is still not placed.
    const [stillBig, ...more] = await tasksOf('big');
    assert.equal(more.length, 0);
    assert.equal(stillBig?.status.state, 'pending');
    assert.equal(stillBig?.nodeId, undefined);
    assert.match(stillBig?.status.message ?? '', /insufficient memory/);
    assert.match(ok(await berth('describe', 'task', stillBig.name)).stdout, new RegExp(`^Message: +${escape(tooBig)}$`, 'm'));
  });
});
