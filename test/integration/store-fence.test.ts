// Store fencing against a real etcd: a writer fenced with a stale leader revision writes nothing
// (txn, batch, put, create, delete), reports the loss, and a current fence writes normally.
import assert from 'node:assert/strict';
import { FenceLostError } from '../../common/errors.js';
import type { Store } from '../../control-plane/store/store.js';
import { serverKeys } from '../../control-plane/store/keys.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

describe('store fencing (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(() => {
    store = t.newStore();
  });

  it('a stale fence writes nothing, reports the loss once per refused txn, and a current one writes', async () => {
    const won = await store.create(serverKeys.leader, { name: 'old', since: 'x' });
    await store.create('tasks/web/a', { n: 1 });
    const a = await store.get<{ n: number; version: number }>('tasks/web/a');
    let lost = 0;
    const stale = store.fenced({ key: serverKeys.leader, revision: won, onLost: () => lost++ });
    // Another server becomes leader: the key is deleted (lease expired) and created again.
    await store.delete(serverKeys.leader);
    const current = await store.create(serverKeys.leader, { name: 'new', since: 'y' });
    const before = await store.revision();

    await assert.rejects(stale.create('tasks/web/b', { n: 2 }), FenceLostError);
    await assert.rejects(stale.put('tasks/web/a', { n: 3 }, a!.version), FenceLostError);
    await assert.rejects(stale.put('tasks/web/a', { n: 4 }), FenceLostError);
    await assert.rejects(stale.delete('tasks/web/a'), FenceLostError);
    await assert.rejects(stale.txn([{ type: 'create', key: 'tasks/web/c', value: {} }, { type: 'put', key: 'updates/web', value: {} }]), FenceLostError);
    await assert.rejects(stale.batch(Array.from({ length: 300 }, (_, i) => ({ type: 'create' as const, key: `tasks/web/x${i}`, value: { i } }))), FenceLostError);
    assert.ok(lost >= 6, `onLost called per refused txn (${lost})`);

    // Nothing was written: the store's revision did not move, and the keys are as they were.
    assert.equal(await store.revision(), before, 'no write reached etcd');
    assert.equal(await store.count('tasks/'), 1);
    assert.equal((await store.get<{ n: number }>('tasks/web/a'))?.n, 1);
    assert.equal(await store.get('updates/web'), undefined);

    // The new leader's fence writes, with the same conflict rules as the plain store.
    const fresh = store.fenced({ key: serverKeys.leader, revision: current });
    await fresh.create('tasks/web/b', { n: 2 });
    const res = await fresh.batch(Array.from({ length: 200 }, (_, i) => ({ type: 'create' as const, key: `tasks/web/y${i}`, value: { i } })));
    assert.deepEqual(res.conflicts, []);
    assert.equal(await store.count('tasks/'), 202);
    // Reads through a fenced view are the store's own.
    assert.equal((await fresh.get<{ n: number }>('tasks/web/b'))?.n, 2);
  });

  it('a fenced write of a stale object is a conflict, not a lost fence, while the fence holds', async () => {
    const won = await store.create(serverKeys.leader, { name: 'me', since: 'x' });
    let lost = 0;
    const w = store.fenced({ key: serverKeys.leader, revision: won, onLost: () => lost++ });
    await w.create('tasks/s/a', { n: 1 });
    await assert.rejects(w.create('tasks/s/a', { n: 2 }), (err: Error) => err.name === 'ConflictError');
    const { conflicts } = await w.batch([{ type: 'create', key: 'tasks/s/a', value: {} }, { type: 'create', key: 'tasks/s/b', value: {} }]);
    assert.deepEqual(conflicts, ['tasks/s/a']);
    assert.equal(lost, 0);
  });
});
