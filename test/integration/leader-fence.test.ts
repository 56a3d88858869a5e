// A deposed leader's controllers, against a real etcd: an orchestrator and a scheduler whose
// fence is stale (another server won the leader key since) decide as usual but write nothing,
// and report the loss; with the current fence the same controllers write. Also: a whole
// Leadership on a lone server wins at once, resigns on stop, and a second one takes over.
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../common/types.js';
import { Leadership } from '../../control-plane/leader/leadership.js';
import { ServerLease } from '../../control-plane/leader/server-lease.js';
import { Orchestrator } from '../../control-plane/orchestrator/orchestrator.js';
import { Scheduler } from '../../control-plane/scheduler/scheduler.js';
import { keys, serverKeys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const svc = (replicas: number): Service => ({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image: 'berth/web', replicas } });
const node: Node = {
  id: 'n1',
  name: 'n1',
  labels: {},
  availability: 'active',
  status: { state: 'ready', timestamp: new Date().toISOString() },
  capacity: { cpu: 4000, memory: 4 * 1024 ** 3 },
  allocatable: { cpu: 4000, memory: 4 * 1024 ** 3 },
  runtime: 'process',
  createdAt: new Date().toISOString(),
};

describe('leader fencing of the controllers (real etcd)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(() => {
    store = t.newStore();
  });

  it('an orchestrator and scheduler with a stale fence write nothing; with the current fence they do', async () => {
    const stale = await store.create(serverKeys.leader, { name: 'old', since: 'x' });
    await store.delete(serverKeys.leader);
    const current = await store.create(serverKeys.leader, { name: 'new', since: 'y' });
    await store.create(keys.node('n1'), node);
    await store.create(keys.service('web'), svc(3));
    const revisionBefore = await store.revision();

    let lost = 0;
    const writer = store.fenced({ key: serverKeys.leader, revision: stale, onLost: () => lost++ });
    const scheduler = new Scheduler({ store: writer, logger: silentLogger });
    const orchestrator = new Orchestrator({ store: writer, logger: silentLogger, placer: scheduler });
    await scheduler.start();
    await orchestrator.start();
    await eventually(() => lost >= 1, 10_000, 'the loss reported');
    await new Promise((r) => setTimeout(r, 500)); // retries meanwhile: still refused
    await orchestrator.stop();
    await scheduler.stop();
    assert.equal(await store.count(keys.tasks), 0, 'no task written');
    assert.equal(await store.revision(), revisionBefore, 'not a single write reached etcd');

    const fresh = store.fenced({ key: serverKeys.leader, revision: current });
    const scheduler2 = new Scheduler({ store: fresh, logger: silentLogger });
    const orchestrator2 = new Orchestrator({ store: fresh, logger: silentLogger, placer: scheduler2 });
    await scheduler2.start();
    await orchestrator2.start();
    try {
      await eventually(async () => {
        const tasks = (await store.list<Task>(keys.tasks)).items;
        return tasks.length === 3 && tasks.every((x) => x.nodeId === 'n1');
      }, 10_000, 'three tasks, placed');
    } finally {
      await orchestrator2.stop();
      await scheduler2.stop();
    }
  });

  it('a lone server leads at once; a second leads as soon as the first resigns', async () => {
    const leaseA = new ServerLease(store, 2, silentLogger);
    const leaseB = new ServerLease(store, 2, silentLogger);
    await leaseA.start();
    await leaseB.start();
    const terms: string[] = [];
    const leadership = (name: string, lease: ServerLease) =>
      new Leadership({ store, lease, name, logger: silentLogger, term: () => [{ start: () => void terms.push(`${name} start`), stop: () => Promise.resolve(void terms.push(`${name} stop`)) }] });
    const a = leadership('a', leaseA);
    const b = leadership('b', leaseB);
    try {
      await a.start();
      assert.ok(a.isLeader, 'a leads as soon as it has started');
      await b.start();
      assert.ok(!b.isLeader);
      const resignedAt = Date.now();
      await a.stop();
      await eventually(() => b.isLeader, 5_000, 'b leads');
      assert.ok(Date.now() - resignedAt < 1_000, 'at once after the resignation, not after the lease');
      assert.deepEqual(terms, ['a start', 'a stop', 'b start']);
      assert.equal((await store.get<{ name: string }>(serverKeys.leader))?.name, 'b');
    } finally {
      await a.stop();
      await b.stop();
      await leaseA.stop();
      await leaseB.stop();
    }
  });
});
