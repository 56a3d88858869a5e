import assert from 'node:assert/strict';
import type { Service, Task } from '../../common/types.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { Orchestrator } from '../../control-plane/orchestrator/orchestrator.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const svc = (replicas: number): Service => ({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image: 'berth/web', replicas } });

describe('orchestrator (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  let orch: Orchestrator;
  before(async () => {
    t = await startTestEtcd();
    store = t.newStore();
    orch = new Orchestrator({ store, logger: silentLogger });
    await orch.start();
  });
  after(async () => {
    await orch?.stop();
    await t?.stop();
  });

  const tasks = async () => (await store.list<Task>(keys.tasksOf('web'))).items;

  it('keeps exactly `replicas` tasks through scale up, scale down and delete', async () => {
    await store.create(keys.service('web'), svc(5));
    await eventually(async () => (await tasks()).length === 5, 10_000, '5 tasks');
    const slots = (await tasks()).map((x) => x.slot).sort();
    assert.deepEqual(slots, [1, 2, 3, 4, 5]);
    // Never more than asked, even after the orchestrator has had time to act again.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await tasks()).length, 5);

    const cur = (await store.get<Service>(keys.service('web')))!;
    await store.put(keys.service('web'), svc(2), cur.metadata.version);
    await eventually(async () => (await tasks()).length === 2, 10_000, 'scaled to 2 (never-placed tasks removed)');
    assert.deepEqual((await tasks()).map((x) => x.slot).sort(), [1, 2]);

    await store.delete(keys.service('web'));
    await eventually(async () => (await tasks()).length === 0, 10_000, 'all tasks gone');
  });

  it('replaces a task that failed, in the same slot, and keeps the failed one as history', async () => {
    await store.create(keys.service('web'), svc(1));
    await eventually(async () => (await tasks()).length === 1, 10_000, 'one task');
    const [first] = await tasks();
    await store.put(keys.task('web', first!.id), { ...first!, nodeId: 'n1', status: { state: 'failed', timestamp: new Date().toISOString(), exitCode: 1 } }, first!.version);
    await eventually(async () => (await tasks()).length === 2, 10_000, 'replacement');
    const all = await tasks();
    const replacement = all.find((x) => x.id !== first!.id)!;
    assert.equal(replacement.slot, 1);
    assert.equal(replacement.desiredState, 'running');
    assert.equal(all.find((x) => x.id === first!.id)!.desiredState, 'shutdown');
    await store.delete(keys.service('web'));
    await eventually(async () => (await tasks()).length === 0, 10_000, 'cleaned');
  });
});
