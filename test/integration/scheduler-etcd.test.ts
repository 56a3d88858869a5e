import assert from 'node:assert/strict';
import type { Node, ServiceSpec, Task, TaskState } from '../../common/types.js';
import { Scheduler } from '../../control-plane/scheduler/scheduler.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { makeNode, task as buildTask } from '../helpers/builders.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

const node = (name: string, over: Partial<Node> = {}): Node =>
  makeNode(`id-${name}`, { name, capacity: { cpu: 4000, memory: 4 * GiB }, allocatable: { cpu: 4000, memory: 4 * GiB }, ...over });

let seq = 0;
function task(service: string, spec: Partial<ServiceSpec> = {}, over: Partial<Task> & { state?: TaskState } = {}): Task {
  seq++;
  const { state = 'pending', ...rest } = over;
  const at = new Date().toISOString();
  return buildTask({ id: `t${String(seq).padStart(5, '0')}`, name: `${service}.${seq}`, serviceName: service, slot: seq, spec: { image: 'nginx', ...spec }, state, status: { timestamp: at }, createdAt: at, ...rest });
}

async function putNodes(store: Store, ...nodes: Node[]): Promise<void> {
  await store.batch(nodes.map((n) => ({ type: 'put' as const, key: keys.node(n.id), value: n })));
}

async function createTasks(store: Store, tasks: Task[]): Promise<void> {
  const { conflicts } = await store.batch(tasks.map((t) => ({ type: 'create' as const, key: keys.task(t.serviceName, t.id), value: t })));
  assert.deepEqual(conflicts, []);
}

async function getTask(store: Store, t: Task): Promise<Task> {
  const got = await store.get<Task>(keys.task(t.serviceName, t.id));
  assert.ok(got, `task ${t.id} exists`);
  return got;
}

async function allTasks(store: Store): Promise<Task[]> {
  return (await store.list<Task>(keys.tasks)).items;
}

/** Waits for `fn` to return a value (not undefined) and returns it. */
async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  return (await eventually(fn, 10_000, what))!;
}

function countByNode(tasks: Task[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tasks) if (t.nodeId) out[t.nodeId] = (out[t.nodeId] ?? 0) + 1;
  return out;
}

describe('scheduler (real etcd)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let scheduler: Scheduler | undefined;

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(() => {
    store = t.newStore();
  });
  afterEach(async () => {
    await scheduler?.stop();
    scheduler = undefined;
  });

  async function startScheduler(): Promise<Scheduler> {
    scheduler = new Scheduler({ store, logger: silentLogger, batchDelayMs: 10 });
    await scheduler.start();
    return scheduler;
  }

  it('assigns 6 pending tasks to 3 ready nodes, 2 per node, and says where', async () => {
    await putNodes(store, node('a'), node('b'), node('c'));
    const ts = Array.from({ length: 6 }, () => task('web', { resources: { memory: '64Mi' } }));
    await startScheduler();
    await createTasks(store, ts);
    const done = await until(async () => {
      const all = await allTasks(store);
      return all.every((x) => x.status.state === 'assigned') ? all : undefined;
    }, 'all tasks assigned');
    assert.deepEqual(countByNode(done), { 'id-a': 2, 'id-b': 2, 'id-c': 2 });
    for (const x of done) assert.equal(x.status.message, `scheduled on ${x.nodeId!.slice(3)}`);
  });

  it('places a task constrained to node.labels.zone == b only on zone-b nodes', async () => {
    await putNodes(
      store,
      node('a1', { labels: { zone: 'a' } }),
      node('a2', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
      node('b2', { labels: { zone: 'b' } }),
    );
    const ts = Array.from({ length: 4 }, () => task('api', { placement: { constraints: ['node.labels.zone == b'] } }));
    await createTasks(store, ts);
    await startScheduler();
    const done = await until(async () => {
      const all = await allTasks(store);
      return all.every((x) => x.status.state === 'assigned') ? all : undefined;
    }, 'constrained tasks assigned');
    assert.deepEqual(countByNode(done), { 'id-b1': 2, 'id-b2': 2 });
  });

  it('keeps a task that fits nowhere pending with the reason, without rewriting it, and places it when a fitting node joins', async () => {
    await putNodes(store, node('small1'), node('small2'));
    const big = task('db', { resources: { memory: '6Gi' } });
    const s = await startScheduler();
    await createTasks(store, [big]);
    const explained = await until(async () => {
      const x = await getTask(store, big);
      return x.status.message === '0/2 nodes available: 2 insufficient memory' ? x : undefined;
    }, 'unschedulable reason written');
    assert.equal(explained.status.state, 'pending');
    assert.equal(explained.status.reason, 'Unschedulable');
    assert.equal(explained.nodeId, undefined);

    // A change that makes the scheduler look again but leaves the answer the same writes nothing.
    const passes = s.stats.passes;
    await putNodes(store, node('small1', { labels: { disk: 'ssd' } }));
    await eventually(() => s.stats.passes > passes, 10_000, 'another pass');
    await s.whenIdle();
    assert.equal((await getTask(store, big)).version, explained.version, 'same explanation is not rewritten');

    await putNodes(store, node('large', { allocatable: { cpu: 4000, memory: 8 * GiB } }));
    const placed = await until(async () => {
      const x = await getTask(store, big);
      return x.status.state === 'assigned' ? x : undefined;
    }, 'placed on the new node');
    assert.equal(placed.nodeId, 'id-large');
    assert.equal(placed.status.message, 'scheduled on large');
  });

  it('never places a task whose memory request is bigger than any node', async () => {
    await putNodes(store, node('a'), node('b'), node('c'));
    const huge = task('huge', { resources: { memory: '64Gi' } });
    const s = await startScheduler();
    await createTasks(store, [huge]);
    await eventually(
      async () => (await getTask(store, huge)).status.message === '0/3 nodes available: 3 insufficient memory',
      10_000,
      'explanation',
    );
    await s.whenIdle();
    const x = await getTask(store, huge);
    assert.equal(x.status.state, 'pending');
    assert.equal(x.nodeId, undefined);
  });

  it('says "no nodes available" for a pending task when there is no node, and places it when one becomes ready', async () => {
    const lonely = task('web');
    await createTasks(store, [lonely]);
    await startScheduler();
    await eventually(
      async () => (await getTask(store, lonely)).status.message === '0/0 nodes available: no nodes available',
      10_000,
      'no nodes message',
    );
    await putNodes(store, node('late', { status: { state: 'down', timestamp: new Date().toISOString() } }));
    await eventually(
      async () => (await getTask(store, lonely)).status.message === '0/1 nodes available: 1 not ready',
      10_000,
      'not ready message',
    );
    await putNodes(store, node('late'));
    await eventually(async () => (await getTask(store, lonely)).nodeId === 'id-late', 10_000, 'placed once ready');
  });

  it('does not bind a host port twice on a node, and uses the port once the task holding it ends', async () => {
    await putNodes(store, node('a'), node('b'));
    const ports = { ports: [{ containerPort: 80, hostPort: 8080 }] };
    const holder = task('old', ports, { nodeId: 'id-a', state: 'running' });
    await createTasks(store, [holder]);
    const web = [task('web', ports), task('web', ports)];
    await startScheduler();
    await createTasks(store, web);
    await until(async () => {
      const xs = await Promise.all(web.map((w) => getTask(store, w)));
      return xs.some((x) => x.nodeId === 'id-b') && xs.some((x) => x.status.message === '0/2 nodes available: 2 host port 8080/tcp in use');
    }, 'one placed on b, one explained');

    const cur = await getTask(store, holder);
    await store.put(keys.task(holder.serviceName, holder.id), { ...cur, desiredState: 'shutdown', status: { ...cur.status, state: 'shutdown' } }, cur.version);
    await until(async () => {
      const xs = await Promise.all(web.map((w) => getTask(store, w)));
      return xs.every((x) => x.status.state === 'assigned') ? xs : undefined;
    }, 'second placed on a');
    assert.deepEqual(countByNode(await Promise.all(web.map((w) => getTask(store, w)))), { 'id-a': 1, 'id-b': 1 });
  });

  it('assigns a global task only to the node it names', async () => {
    await putNodes(store, node('a'), node('b', { allocatable: { cpu: 4000, memory: 64 * GiB } }));
    const g = task('monitor', { mode: 'global', resources: { memory: '1Gi' } }, { nodeId: 'id-a', slot: 0 });
    await createTasks(store, [g]);
    await startScheduler();
    const x = await until(async () => {
      const y = await getTask(store, g);
      return y.status.state === 'assigned' ? y : undefined;
    }, 'global task assigned');
    assert.equal(x.nodeId, 'id-a');
  });

  it('leaves tasks that are not desired running alone', async () => {
    await putNodes(store, node('a'));
    const gone = task('web', {}, { desiredState: 'shutdown' });
    await createTasks(store, [gone]);
    const s = await startScheduler();
    const marker = task('web');
    await createTasks(store, [marker]);
    await eventually(async () => (await getTask(store, marker)).status.state === 'assigned', 10_000, 'marker placed');
    await s.whenIdle();
    const x = await getTask(store, gone);
    assert.equal(x.status.state, 'pending');
    assert.equal(x.nodeId, undefined);
  });

  it('never overbooks a node across passes while a burst of tasks arrives', async () => {
    const alloc = { cpu: 100_000, memory: 200 * 10 * MiB };
    await putNodes(store, node('a', { allocatable: alloc }), node('b', { allocatable: alloc }), node('c', { allocatable: alloc }));
    await startScheduler();
    const burst = Array.from({ length: 601 }, () => task('burst', { resources: { memory: '10Mi' } }));
    for (let i = 0; i < burst.length; i += 100) await createTasks(store, burst.slice(i, i + 100));
    const done = await eventually(async () => {
      const all = await allTasks(store);
      const assigned = all.filter((x) => x.status.state === 'assigned');
      const waiting = all.filter((x) => x.status.message === '0/3 nodes available: 3 insufficient memory');
      return assigned.length === 600 && waiting.length === 1 ? all : undefined;
    }, 30_000, '600 assigned, 1 explained');
    assert.deepEqual(countByNode(done!), { 'id-a': 200, 'id-b': 200, 'id-c': 200 });
  });
});
