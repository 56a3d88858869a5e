import assert from 'node:assert/strict';
import { FakeWorker } from '../../agent/fake-worker.js';
import { AgentSession, JoinRefusedError, type StatusRejectionNotice } from '../../agent/session/session.js';
import type { TaskWorker } from '../../agent/worker/types.js';
import type { TaskStatusReport } from '../../common/task-status.js';
import type { Node, Task, TaskState } from '../../common/types.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let TOKEN: string;
const GRACE_MS = 1000;

/** The fake worker, plus counts of what the session asked of it and a way to report anything. */
class ObservedWorker implements TaskWorker {
  readonly inner = new FakeWorker();
  readonly upserts = new Map<string, number>();
  private listener: ((r: TaskStatusReport) => void) | undefined;
  start = () => this.inner.start();
  setAssignments = (tasks: Task[]) => this.inner.setAssignments(tasks);
  upsert = (task: Task) => {
    this.upserts.set(task.id, (this.upserts.get(task.id) ?? 0) + 1);
    this.inner.upsert(task);
  };
  remove = (id: string) => this.inner.remove(id);
  statuses = () => this.inner.statuses();
  onStatus = (l: (r: TaskStatusReport) => void) => {
    this.listener = l;
    this.inner.onStatus(l);
  };
  stop = () => this.inner.stop();
  /** Reports a status as if this node ran the task. */
  claim(taskId: string, state: TaskState): void {
    this.listener?.({ taskId, status: { state, timestamp: new Date().toISOString() } });
  }
}

function newTask(service: string, n: number, nodeId: string | undefined): Task {
  return {
    id: `${service}-${n}-${Math.random().toString(36).slice(2, 8)}`,
    name: `${service}.${n}.x`,
    serviceName: service,
    slot: n,
    serviceVersion: 1,
    spec: { image: 'busybox:latest', command: ['sleep', '1000'], env: { N: String(n) }, resources: { cpu: '100m' } },
    desiredState: 'running',
    ...(nodeId ? { nodeId } : {}),
    status: { state: 'assigned', timestamp: new Date().toISOString() },
    createdAt: new Date().toISOString(),
  };
}

describe('dispatcher and agent session (real etcd, real gRPC)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let dispatcher: Dispatcher;
  let downs: string[];
  let sessions: AgentSession[];

  const startDispatcher = async (port = 0): Promise<Dispatcher> => {
    const d = new Dispatcher({
      store,
      logger: silentLogger,
      listen: `127.0.0.1:${port}`,
      verifyJoinToken: (token) => token === TOKEN,
      tls: pki.tls,
      heartbeatIntervalMs: 100,
      heartbeatGraceMs: GRACE_MS,
      onNodeDown: (id) => downs.push(id),
    });
    await d.start();
    return d;
  };

  const newAgent = (name: string, worker: TaskWorker, opts: { token?: string; labels?: Record<string, string>; onRejected?: (r: StatusRejectionNotice) => void } = {}) => {
    const s = new AgentSession({
      server: `127.0.0.1:${dispatcher.port}`,
      joinToken: opts.token ?? TOKEN,
      nodeName: name,
      labels: opts.labels ?? { zone: 'a' },
      capacity: { cpu: 2000, memory: 2 * 1024 ** 3 },
      runtime: 'process',
      agentVersion: 'test',
      worker,
      logger: silentLogger,
      backoff: { initialMs: 50, maxMs: 300 },
      ...(opts.onRejected ? { onRejected: opts.onRejected } : {}),
    });
    sessions.push(s);
    return s;
  };

  const connected = async (s: AgentSession): Promise<string> => {
    void s.start();
    await eventually(() => s.connected, 10_000, 'session established');
    return s.nodeId!;
  };

  const stored = (task: Task) => store.get<Task>(keys.task(task.serviceName, task.id));

  before(async () => {
    pki = await testPki();
    TOKEN = pki.token();
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    store = t.newStore();
    downs = [];
    sessions = [];
    dispatcher = await startDispatcher();
  });
  afterEach(async () => {
    await Promise.all(sessions.map((s) => s.stop()));
    await dispatcher.stop();
  });

  it('refuses an agent with a bad join token and writes nothing to etcd', async () => {
    const before = await store.count();
    const result = await newAgent('intruder', new FakeWorker(), { token: pki.token('not-the-cluster-secret') }).start();
    assert.ok(result instanceof JoinRefusedError, `expected a refusal, got ${String(result)}`);
    assert.match(result.message, /invalid join token/);
    assert.equal(await store.count(), before);
  });

  it('gives the same node id to the same name registering again, with its new labels', async () => {
    const first = newAgent('node-a', new FakeWorker(), { labels: { zone: 'a' } });
    const id = await connected(first);
    await first.stop();
    const again = newAgent('node-a', new FakeWorker(), { labels: { zone: 'b' } });
    assert.equal(await connected(again), id);
    const nodes = await store.list<Node>(keys.nodes);
    assert.equal(nodes.items.length, 1);
    assert.equal(nodes.items[0]!.id, id);
    assert.deepEqual(nodes.items[0]!.labels, { zone: 'b' });
    assert.equal(nodes.items[0]!.status.state, 'ready');
    assert.deepEqual(nodes.items[0]!.capacity, { cpu: 2000, memory: 2 * 1024 ** 3 });
  });

  it('delivers assigned tasks to the worker and writes their running status back', async () => {
    const worker = new ObservedWorker();
    const agent = newAgent('node-a', worker);
    // Register first to learn the node id, then assign one task before and one after the session.
    const nodeId = await connected(agent);
    await agent.stop();
    const early = newTask('web', 1, nodeId);
    await store.create(keys.task('web', early.id), early);
    const unassigned = newTask('web', 9, undefined);
    await store.create(keys.task('web', unassigned.id), unassigned);

    const agent2 = newAgent('node-a', worker);
    await connected(agent2);
    const late = newTask('web', 2, nodeId);
    await store.create(keys.task('web', late.id), late);

    for (const task of [early, late]) {
      await eventually(async () => (await stored(task))?.status.state === 'running', 10_000, `${task.id} running in etcd`);
    }
    assert.deepEqual(worker.inner.knownTaskIds().sort(), [early.id, late.id].sort());
    assert.equal((await stored(unassigned))?.status.state, 'assigned');

    // A change the agent acts on arrives; the dispatcher's own status writes did not re-send the task.
    const cur = (await stored(late))!;
    await store.put(keys.task('web', late.id), { ...cur, desiredState: 'shutdown' }, cur.version);
    await eventually(async () => (await stored(late))?.status.state === 'shutdown', 10_000, 'shutdown written');
    assert.equal(worker.upserts.get(late.id), 2, 'one upsert on creation, one on the desired-state change');

    // Deleted from etcd: the worker forgets it.
    await store.delete(keys.task('web', late.id));
    await eventually(() => !worker.inner.knownTaskIds().includes(late.id), 10_000, 'task removed from worker');
  });

  it('does not start a task twice across a control-plane restart, and resynchronises statuses', async () => {
    const worker = new ObservedWorker();
    const agent = newAgent('node-a', worker);
    const nodeId = await connected(agent);
    const tasks = [newTask('api', 1, nodeId), newTask('api', 2, nodeId)];
    await store.batch(tasks.map((task) => ({ type: 'create' as const, key: keys.task('api', task.id), value: task })));
    for (const task of tasks) await eventually(async () => (await stored(task))?.status.state === 'running', 10_000, 'running');

    const port = dispatcher.port;
    await dispatcher.stop();
    await eventually(() => !agent.connected, 10_000, 'agent notices the control plane is gone');
    // While the control plane is away: one status is lost from the store, one task is added.
    const first = (await stored(tasks[0]!))!;
    await store.put(keys.task('api', first.id), { ...first, status: { state: 'assigned', timestamp: new Date().toISOString() } }, first.version);
    const added = newTask('api', 3, nodeId);
    await store.create(keys.task('api', added.id), added);

    dispatcher = await startDispatcher(port);
    await eventually(() => agent.connected, 15_000, 'agent reconnects by itself');
    await eventually(async () => (await stored(tasks[0]!))?.status.state === 'running', 10_000, 'lost status resynchronised');
    await eventually(async () => (await stored(added))?.status.state === 'running', 10_000, 'task added while away runs');
    for (const task of [...tasks, added]) assert.equal(worker.inner.starts.get(task.id), 1, `${task.id} started once`);
    assert.equal(agent.nodeId, nodeId);
  });

  it('rejects a status report for a task assigned to another node, writing nothing', async () => {
    const rejections: StatusRejectionNotice[] = [];
    const thief = new ObservedWorker();
    const agentA = newAgent('node-a', thief, { onRejected: (r) => rejections.push(r) });
    const agentB = newAgent('node-b', new FakeWorker());
    await connected(agentA);
    const nodeB = await connected(agentB);
    const task = newTask('db', 1, nodeB);
    await store.create(keys.task('db', task.id), task);
    await eventually(async () => (await stored(task))?.status.state === 'running', 10_000, 'running on node-b');
    const before = (await stored(task))!;

    thief.claim(task.id, 'failed');
    thief.claim('no-such-task', 'running');
    await eventually(() => rejections.length === 2, 10_000, 'two rejections');
    assert.deepEqual(rejections.map((r) => [r.taskId, r.reason]).sort(), [
      [task.id, 'NotAssignedToNode'],
      ['no-such-task', 'TaskNotFound'],
    ]);
    const after = (await stored(task))!;
    assert.equal(after.version, before.version);
    assert.equal(after.status.state, 'running');
    assert.equal(await store.count(keys.tasks), 1);
  });

  it('marks a node down when its heartbeats stop, calls onNodeDown, and ready again when it returns', async () => {
    const agent = newAgent('node-a', new FakeWorker());
    const nodeId = await connected(agent);
    await agent.stop();
    await eventually(async () => (await store.get<Node>(keys.node(nodeId)))?.status.state === 'down', 15_000, 'node down');
    await eventually(() => downs.length === 1, 5000, 'onNodeDown');
    assert.deepEqual(downs, [nodeId]);

    const back = newAgent('node-a', new FakeWorker());
    assert.equal(await connected(back), nodeId);
    await eventually(async () => (await store.get<Node>(keys.node(nodeId)))?.status.state === 'ready', 10_000, 'node ready again');
    assert.deepEqual(downs, [nodeId], 'no second down while heartbeats flow');
  });
});
