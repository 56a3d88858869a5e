// Placement at creation, against a real etcd: with the scheduler as its placer (as in the
// server), the orchestrator writes a task that fits somewhere once, already assigned; what fits
// nowhere is created pending and explained by the scheduler; nodes are never booked twice, even
// when the scheduler's own passes and the orchestrator's placements interleave; and a placement
// whose write never happened gives its node back.
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../common/types.js';
import { EventReason } from '../../common/events.js';
import { EventRecorder, listEvents } from '../../control-plane/events/recorder.js';
import { Orchestrator } from '../../control-plane/orchestrator/orchestrator.js';
import { Scheduler } from '../../control-plane/scheduler/scheduler.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { makeNode, task as buildTask } from '../helpers/builders.js';

const MiB = 1 << 20;

/** A node with room for `slots` tasks of 100 MiB. */
const node = (id: string, slots: number): Node =>
  makeNode(id, { capacity: { cpu: 64_000, memory: slots * 100 * MiB }, allocatable: { cpu: 64_000, memory: slots * 100 * MiB }, runtime: 'process' });

const service = (name: string, replicas: number): Service => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name },
  spec: { image: 'berth/test', replicas, resources: { memory: '100Mi' } },
});

describe('placement at creation (real etcd, orchestrator with the scheduler as placer)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let events: EventRecorder;
  let orch: Orchestrator | undefined;
  let sched: Scheduler | undefined;
  /** The first version of every task key as etcd delivered it. */
  const firstSeen = new Map<string, Task>();
  let stopWatch: (() => Promise<void>) | undefined;

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    store = t.newStore();
    firstSeen.clear();
    stopWatch = await store.watch<Task>(keys.tasks, (await store.revision()) + 1, (ev) => {
      if (ev.type === 'put' && !firstSeen.has(ev.key)) firstSeen.set(ev.key, ev.value);
    }, () => undefined);
    events = new EventRecorder({ store, logger: silentLogger, flushMs: 5 });
  });
  afterEach(async () => {
    await orch?.stop();
    await sched?.stop();
    await events.stop();
    await stopWatch?.();
    orch = sched = undefined;
  });

  const startBoth = async () => {
    sched = new Scheduler({ store, logger: silentLogger, events });
    orch = new Orchestrator({ store, logger: silentLogger, events, placer: sched });
    await sched.start();
    await orch.start();
  };
  const tasksOf = async (name: string) => (await store.list<Task>(keys.tasksOf(name))).items;
  const tasksByNode = (tasks: Task[]) => {
    const m = new Map<string, number>();
    for (const x of tasks) if (x.nodeId) m.set(x.nodeId, (m.get(x.nodeId) ?? 0) + 1);
    return m;
  };

  it('writes each task that fits once, already assigned and spread, with its TaskScheduled event', async () => {
    await store.create(keys.node('n1'), node('n1', 10));
    await store.create(keys.node('n2'), node('n2', 10));
    await startBoth();
    await store.create(keys.service('web'), service('web', 6));
    await eventually(async () => (await tasksOf('web')).filter((x) => x.status.state === 'assigned').length === 6, 10_000, '6 assigned');
    const tasks = await tasksOf('web');
    for (const x of tasks) {
      const first = firstSeen.get(keys.task('web', x.id));
      assert.equal(first?.status.state, 'assigned', `${x.name} was created assigned, not pending`);
      assert.equal(first?.nodeId, x.nodeId);
    }
    assert.deepEqual([...tasksByNode(tasks).values()], [3, 3]);
    await eventually(async () => (await listEvents(store)).filter((e) => e.reason === EventReason.TaskScheduled).length === 6, 5000, '6 TaskScheduled events');
  });

  it('creates what fits nowhere pending, explained, and never books a node past its capacity', async () => {
    await store.create(keys.node('n1'), node('n1', 3));
    await store.create(keys.node('n2'), node('n2', 2));
    await startBoth();
    // Several services at once, so the orchestrator's placements and the scheduler's passes interleave.
    for (const name of ['a', 'b', 'c']) await store.create(keys.service(name), service(name, 3));
    await eventually(async () => {
      const all = [...(await tasksOf('a')), ...(await tasksOf('b')), ...(await tasksOf('c'))];
      return all.length === 9 && all.filter((x) => x.status.reason === 'Unschedulable').length === 4;
    }, 10_000, '9 tasks: 5 placed, 4 explained');
    const all = [...(await tasksOf('a')), ...(await tasksOf('b')), ...(await tasksOf('c'))];
    assert.deepEqual(Object.fromEntries(tasksByNode(all)), { n1: 3, n2: 2 });
    for (const x of all.filter((y) => !y.nodeId)) {
      assert.equal(x.status.state, 'pending');
      assert.match(x.status.message ?? '', /insufficient memory/);
    }
  });

  it('gives a node back when the placed task was never written', async () => {
    await store.create(keys.node('n1'), node('n1', 1));
    sched = new Scheduler({ store, logger: silentLogger, events });
    await sched.start();
    const task = (id: string): Task => {
      const at = new Date().toISOString();
      return buildTask({ id, serviceName: 'x', spec: service('x', 1).spec, status: { timestamp: at }, createdAt: at });
    };
    const first = sched.placeNew([task('t1')], new Date().toISOString());
    assert.equal(first.tasks[0]?.nodeId, 'n1');
    const full = sched.placeNew([task('t2')], new Date().toISOString());
    assert.equal(full.tasks[0]?.nodeId, undefined, 'the only slot is booked');
    sched.releaseNew(first.booked);
    const again = sched.placeNew([task('t3')], new Date().toISOString());
    assert.equal(again.tasks[0]?.nodeId, 'n1', 'the slot is free again');
  });
});
