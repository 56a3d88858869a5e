// Fencing against a real dispatcher and etcd: an agent cut off from the control plane stops its
// tasks after --fence-after, and when it comes back the control plane's view wins.
import assert from 'node:assert/strict';
import { FakeWorker } from '../../agent/fake-worker.js';
import { AgentSession } from '../../agent/session/session.js';
import type { TaskWorker } from '../../agent/worker/types.js';
import type { Task } from '../../common/types.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki, type TestPki } from '../helpers/pki.js';

let pki: TestPki;
let TOKEN: string;

/** The fake worker with a fence that stops (reports `shutdown` for) every task it runs. */
class FencingWorker extends FakeWorker implements TaskWorker {
  fences = 0;
  private readonly held = new Map<string, Task>();
  override upsert(task: Task): void {
    this.held.set(task.id, task);
    super.upsert(task);
  }
  fence(): void {
    this.fences++;
    for (const t of this.held.values()) super.upsert({ ...t, desiredState: 'shutdown' });
  }
}

describe('agent fencing (real etcd, real gRPC)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let dispatcher: Dispatcher | undefined;
  let session: AgentSession | undefined;

  const startDispatcher = async (port = 0): Promise<Dispatcher> => {
    const d = new Dispatcher({
      store,
      logger: silentLogger,
      listen: `127.0.0.1:${port}`,
      verifyJoinToken: (token) => token === TOKEN,
      tls: pki.tls,
      heartbeatIntervalMs: 100,
      heartbeatGraceMs: 1000,
    });
    await d.start();
    return d;
  };

  const newSession = (worker: TaskWorker, port: number, fenceAfterMs: number) =>
    new AgentSession({
      server: `127.0.0.1:${port}`,
      joinToken: TOKEN,
      nodeName: 'node-f',
      labels: {},
      capacity: { cpu: 2000, memory: 2 * 1024 ** 3 },
      runtime: 'process',
      agentVersion: 'test',
      worker,
      logger: silentLogger,
      backoff: { initialMs: 50, maxMs: 200 },
      fenceAfterMs,
    });

  async function runningTask(nodeId: string): Promise<Task> {
    const task: Task = {
      id: `fence-${Math.random().toString(36).slice(2, 8)}`,
      name: 'web.1.f',
      serviceName: 'web',
      slot: 1,
      serviceVersion: 1,
      spec: { image: 'busybox:latest' },
      desiredState: 'running',
      nodeId,
      status: { state: 'assigned', timestamp: new Date().toISOString() },
      createdAt: new Date().toISOString(),
    };
    await store.create(keys.task('web', task.id), task);
    await eventually(async () => (await store.get<Task>(keys.task('web', task.id)))?.status.state === 'running', 10_000, 'task running');
    return task;
  }

  beforeEach(async () => {
    pki = await testPki();
    TOKEN = pki.token();
    t = await startTestEtcd();
    store = t.newStore();
    dispatcher = await startDispatcher();
  });
  afterEach(async () => {
    await session?.stop();
    await dispatcher?.stop();
    await t?.stop();
  });

  it('a cut-off agent stops its tasks; on reconnection the orphaned state in etcd stays and nothing starts twice', async () => {
    const worker = new FencingWorker();
    const port = dispatcher!.port;
    session = newSession(worker, port, 300);
    void session.start();
    await eventually(() => session!.connected, 10_000, 'connected');
    const task = await runningTask(session.nodeId!);

    await dispatcher!.stop();
    dispatcher = undefined;
    await eventually(() => worker.fences === 1, 10_000, 'fenced');
    assert.equal(worker.statuses().find((s) => s.taskId === task.id)?.status.state, 'shutdown');

    // Meanwhile the control plane gave the node up and orphaned its task.
    const cur = (await store.get<Task>(keys.task('web', task.id)))!;
    await store.put(
      keys.task('web', task.id),
      { ...cur, desiredState: 'shutdown', status: { ...cur.status, state: 'orphaned', message: 'node node-f is down' } },
      cur.version,
    );

    dispatcher = await startDispatcher(port);
    await eventually(() => session!.connected, 10_000, 'reconnected');
    // Give the hello's `shutdown` report time to be (not) written.
    await new Promise((r) => setTimeout(r, 300));
    const after = (await store.get<Task>(keys.task('web', task.id)))!;
    assert.equal(after.status.state, 'orphaned');
    assert.equal(worker.starts.get(task.id), 1);
    assert.equal(worker.fences, 1);
  });

  it('an agent that reconnects before --fence-after keeps its tasks running', async () => {
    const worker = new FencingWorker();
    const port = dispatcher!.port;
    session = newSession(worker, port, 30_000);
    void session.start();
    await eventually(() => session!.connected, 10_000, 'connected');
    const task = await runningTask(session.nodeId!);

    await dispatcher!.stop();
    dispatcher = await startDispatcher(port);
    await eventually(() => session!.connected, 10_000, 'reconnected');
    assert.equal(worker.fences, 0);
    assert.equal(worker.statuses().find((s) => s.taskId === task.id)?.status.state, 'running');
    assert.equal((await store.get<Task>(keys.task('web', task.id)))?.status.state, 'running');
  });
});
