// Self-healing against a real etcd: orchestrator + scheduler running, nodes written as the
// dispatcher would, and a simulated agent (a store writer, no containers) reporting task states.
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../common/types.js';
import { EventRecorder, listEvents } from '../../control-plane/events/recorder.js';
import { Orchestrator } from '../../control-plane/orchestrator/orchestrator.js';
import { Scheduler } from '../../control-plane/scheduler/scheduler.js';
import { Informer } from '../../control-plane/store/informer.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { makeNode } from '../helpers/builders.js';
import { isTerminal } from '../../common/types.js';

const now = () => new Date().toISOString();

const node = (id: string): Node => makeNode(id, { capacity: { cpu: 4000, memory: 4 << 30 }, allocatable: { cpu: 4000, memory: 4 << 30 }, runtime: 'process' });

const service = (name: string, spec: Partial<Service['spec']>): Service => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name },
  spec: { image: 'berth/test', replicas: 1, ...spec },
});

/**
 * Plays every agent: an assigned task on a ready node runs after a short while (or fails at once
 * for services in `crashing`), a task told to stop stops. Nothing happens on a down node.
 */
class SimulatedAgents {
  readonly crashing = new Set<string>();
  /** Per task id: when it was seen assigned, to check it was not placed before its restartAt. */
  readonly assignedSeenAt = new Map<string, number>();
  private readonly tasks: Informer<Task>;
  private readonly nodes: Informer<Node>;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly store: Store) {
    this.tasks = new Informer<Task>({ store, prefix: keys.tasks, logger: silentLogger, onEvent: (e) => e.type === 'put' && this.onTask(e.value) });
    this.nodes = new Informer<Node>({ store, prefix: keys.nodes, logger: silentLogger });
  }

  async start(): Promise<void> {
    this.nodes.start();
    this.tasks.start();
    await Promise.all([this.nodes.synced, this.tasks.synced]);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([this.tasks.stop(), this.nodes.stop()]);
  }

  private onTask(t: Task): void {
    if (!t.nodeId || isTerminal(t.status.state)) return;
    if (this.nodes.cache.get(keys.node(t.nodeId))?.status.state !== 'ready') return;
    if (t.status.state === 'assigned' && !this.assignedSeenAt.has(t.id)) this.assignedSeenAt.set(t.id, Date.now());
    if (t.desiredState !== 'running') return this.later(t, 'shutdown');
    if (t.status.state === 'assigned') this.later(t, this.crashing.has(t.serviceName) ? 'failed' : 'running');
  }

  private later(t: Task, state: 'running' | 'failed' | 'shutdown'): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const status = { ...t.status, state, timestamp: now(), ...(state === 'failed' ? { exitCode: 1 } : {}) };
      // A conflict means the task changed meanwhile: its next event brings it back here.
      this.store.put(keys.task(t.serviceName, t.id), { ...t, status }, t.version).catch(() => undefined);
    }, 30);
    this.timers.add(timer);
  }
}

describe('self-healing (real etcd, simulated agents)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let events: EventRecorder;
  let orch: Orchestrator;
  let sched: Scheduler;
  let agents: SimulatedAgents;

  beforeEach(async () => {
    t = await startTestEtcd();
    store = t.newStore();
    for (const id of ['n1', 'n2', 'n3']) await store.create(keys.node(id), node(id));
    events = new EventRecorder({ store, logger: silentLogger, flushMs: 10 });
    orch = new Orchestrator({ store, logger: silentLogger, events });
    sched = new Scheduler({ store, logger: silentLogger, events });
    agents = new SimulatedAgents(store);
    await agents.start();
    await orch.start();
    await sched.start();
  });
  afterEach(async () => {
    await sched?.stop();
    await orch?.stop();
    await agents?.stop();
    await events?.stop();
    await t?.stop();
  });

  const tasksOf = async (svc: string) => (await store.list<Task>(keys.tasksOf(svc))).items;
  const liveRunning = (tasks: Task[]) => tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running');

  async function setNode(id: string, change: (n: Node) => Node): Promise<void> {
    const cur = (await store.get<Node>(keys.node(id)))!;
    const { version, ...rest } = cur;
    await store.put(keys.node(id), change(rest), version);
  }

  it('orphans the tasks of a node marked down and runs replacements on the others; other tasks stay', async () => {
    await store.create(keys.service('web'), service('web', { replicas: 6 }));
    await eventually(async () => liveRunning(await tasksOf('web')).length === 6, 15_000, '6 running');
    const before = await tasksOf('web');
    const onN1 = before.filter((x) => x.nodeId === 'n1');
    const elsewhere = before.filter((x) => x.nodeId !== 'n1').map((x) => x.id).sort();
    assert.ok(onN1.length > 0, 'spread puts tasks on n1');

    await setNode('n1', (n) => ({ ...n, status: { state: 'down', timestamp: now(), message: 'no heartbeat within the grace period' } }));

    await eventually(async () => {
      const all = await tasksOf('web');
      return liveRunning(all).length === 6 && liveRunning(all).every((x) => x.nodeId !== 'n1');
    }, 15_000, '6 running off n1');
    const after = await tasksOf('web');
    for (const o of onN1) {
      const stored = after.find((x) => x.id === o.id)!;
      assert.equal(stored.status.state, 'orphaned');
      assert.equal(stored.desiredState, 'shutdown');
      assert.equal(stored.status.message, 'node n1 is down');
    }
    // Tasks of the other nodes did not move.
    assert.deepEqual(
      after.filter((x) => x.nodeId !== 'n1' && before.some((b) => b.id === x.id)).map((x) => x.id).sort(),
      elsewhere,
    );
    assert.ok(after.filter((x) => !before.some((b) => b.id === x.id)).every((x) => (x.restarts ?? 0) === 0 && !x.restartAt));

    await eventually(async () => {
      const ev = await listEvents(store);
      return ev.filter((e) => e.reason === 'TaskOrphaned').length === onN1.length && ev.filter((e) => e.reason === 'Rescheduled').length === onN1.length;
    }, 5000, 'TaskOrphaned and Rescheduled events');
  });

  it('a crash-looping slot gets growing backoff times, and is not placed before them', async () => {
    agents.crashing.add('crash');
    await store.create(keys.service('crash'), service('crash', { replicas: 1 }));
    await eventually(async () => (await tasksOf('crash')).some((x) => (x.restarts ?? 0) >= 3), 30_000, 'restart 3');
    const all = await tasksOf('crash');
    const byCount = new Map(all.map((x) => [x.restarts ?? 0, x]));
    const r2 = byCount.get(2)!;
    const r3 = byCount.get(3)!;
    assert.equal(Date.parse(r2.restartAt!) - Date.parse(r2.createdAt), 1000);
    assert.equal(Date.parse(r3.restartAt!) - Date.parse(r3.createdAt), 2000);
    assert.equal(byCount.get(1)?.restartAt, undefined, 'the first restart is immediate');
    for (const x of [r2]) {
      const seen = agents.assignedSeenAt.get(x.id);
      assert.ok(seen !== undefined && seen >= Date.parse(x.restartAt!), `${x.name} placed only after its restartAt`);
    }
    const waiting = all.find((x) => x.status.state === 'pending' && x.restartAt);
    if (waiting) {
      assert.equal(waiting.status.reason, 'CrashLoopBackOff');
      assert.match(waiting.status.message ?? '', /^crash-looping: restart \d+, next retry at \d\d:\d\d:\d\d \(in \d+s\)$/);
    }
  });

  it('drains a node never leaving more than update.parallelism slots without a running task', async () => {
    await store.create(keys.service('api'), service('api', { replicas: 6, update: { parallelism: 2 } }));
    await eventually(async () => liveRunning(await tasksOf('api')).length === 6, 15_000, '6 running');
    assert.ok((await tasksOf('api')).some((x) => x.nodeId === 'n1'));

    let worst = 0;
    const sample = (cache: Map<string, Task>) => {
      const running = new Set<number>();
      for (const x of cache.values()) if (x.serviceName === 'api' && x.desiredState === 'running' && x.status.state === 'running') running.add(x.slot);
      worst = Math.max(worst, 6 - running.size);
    };
    const watcher: Informer<Task> = new Informer<Task>({ store, prefix: keys.tasks, logger: silentLogger, onEvent: () => sample(watcher.cache) });
    watcher.start();
    await watcher.synced;
    try {
      await setNode('n1', (n) => ({ ...n, availability: 'drain' }));
      await eventually(async () => {
        const all = await tasksOf('api');
        return liveRunning(all).length === 6 && all.every((x) => x.nodeId !== 'n1' || isTerminal(x.status.state));
      }, 30_000, 'n1 emptied');
      assert.ok(worst <= 2, `at most 2 slots without a running task (saw ${worst})`);
      assert.ok(worst >= 1, 'tasks did move');
    } finally {
      await watcher.stop();
    }
    await eventually(async () => (await listEvents(store)).some((e) => e.reason === 'NodeDrain'), 5000, 'NodeDrain event');
    assert.ok((await listEvents(store)).some((e) => e.reason === 'TaskMoved' && e.service === 'api'));
  });
});
