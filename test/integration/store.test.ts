import assert from 'node:assert/strict';
import { ConflictError } from '../../common/errors.js';
import { Informer, type InformerEvent } from '../../control-plane/store/informer.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

interface Obj {
  name: string;
  n: number;
  version?: number;
}

describe('store (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(() => {
    store = t.newStore();
  });

  it('returns the object version as the etcd mod_revision and refuses a stale conditional update', async () => {
    await store.create('things/a', { name: 'a', n: 1 });
    const a = await store.get<Obj>('things/a');
    assert.ok(a?.version && a.version > 0);
    await store.put('things/a', { ...a, n: 2 }, a.version);
    const a2 = await store.get<Obj>('things/a');
    assert.equal(a2?.n, 2);
    assert.ok(a2.version! > a.version);
    await assert.rejects(store.put('things/a', { ...a, n: 3 }, a.version), ConflictError);
    assert.equal((await store.get<Obj>('things/a'))?.n, 2, 'stale write changed nothing');
    await assert.rejects(store.create('things/a', { name: 'a', n: 9 }), ConflictError);
    await assert.rejects(store.delete('things/a', a.version), ConflictError);
    await store.delete('things/a', a2.version);
    assert.equal(await store.get('things/a'), undefined);
  });

  it('writes a transaction all-or-nothing', async () => {
    await store.create('things/x', { name: 'x', n: 1 });
    await assert.rejects(
      store.txn([
        { type: 'create', key: 'things/y', value: { name: 'y', n: 1 } },
        { type: 'create', key: 'things/x', value: { name: 'x', n: 2 } },
      ]),
      ConflictError,
    );
    assert.equal(await store.get('things/y'), undefined);
    assert.equal(await store.count('things/'), 1);
  });

  it('batches more writes than one transaction allows and reports conflicts per key', async () => {
    await store.create('many/k0007', { name: 'k0007', n: 0 });
    const ops = Array.from({ length: 300 }, (_, i) => ({
      type: 'create' as const,
      key: `many/k${String(i).padStart(4, '0')}`,
      value: { name: `k${i}`, n: i },
    }));
    const { conflicts } = await store.batch(ops);
    assert.deepEqual(conflicts, ['many/k0007']);
    assert.equal(await store.count('many/'), 300);
  });

  it('one informer serves several subscribers; one that fails or leaves does not stop the others', async () => {
    const owner: string[] = [];
    const a: string[] = [];
    const b: string[] = [];
    const inf = new Informer<Obj>({ store, prefix: 's/', logger: silentLogger, onEvent: (e) => owner.push(e.key) });
    const leaveA = inf.subscribe((e) => a.push(e.key));
    inf.subscribe((e) => {
      b.push(e.key);
      throw new Error('a broken subscriber');
    });
    inf.start();
    inf.start(); // a second start is a no-op: still one watch, one event per change
    await inf.synced;
    await store.create('s/1', { name: '1', n: 1 });
    await eventually(() => owner.length === 1 && a.length === 1 && b.length === 1, 5000, 'first event everywhere');
    leaveA();
    await store.create('s/2', { name: '2', n: 2 });
    await eventually(() => owner.length === 2 && b.length === 2, 5000, 'second event');
    assert.deepEqual(a, ['s/1'], 'an unsubscribed handler hears nothing more');
    assert.deepEqual(owner, ['s/1', 's/2'], 'each change once');
    await inf.stop();
  });

  it('informer resumes its watch after the etcd process is restarted', async function () {
    this.timeout(60_000);
    const events: InformerEvent<Obj>[] = [];
    const inf = new Informer<Obj>({ store, prefix: 'w/', logger: silentLogger, onEvent: (e) => events.push(e) });
    inf.start();
    await inf.synced;
    await store.create('w/1', { name: '1', n: 1 });
    await eventually(() => inf.cache.has('w/1'), 5000, 'first event');
    await t.restart();
    await eventually(async () => {
      await store.create(`w/2`, { name: '2', n: 2 });
      return true;
    }, 20_000, 'store usable after restart');
    await eventually(() => inf.cache.get('w/2')?.n === 2, 20_000, 'event after restart');
    await inf.stop();
  });

  it('informer re-lists after its watch is compacted away, reporting what it missed', async function () {
    this.timeout(30_000);
    const events: InformerEvent<Obj>[] = [];
    const inf = new Informer<Obj>({ store, prefix: 'c/', logger: silentLogger, onEvent: (e) => events.push(e), retryMs: 100 });
    await store.create('c/gone', { name: 'gone', n: 0 });
    inf.start();
    await inf.synced;
    // Stop the informer's watch from seeing changes, write past it, compact, then resume it.
    await inf.stop();
    const stale = inf.lastRevision;
    await store.create('c/new', { name: 'new', n: 1 });
    await store.deletePrefix('c/gone');
    for (let i = 0; i < 5; i++) await store.put('c/new', { name: 'new', n: i + 2 });
    await store.compact(await store.revision());
    // Resume from the stale snapshot: etcd refuses the watch as compacted; the informer re-lists.
    const inf2 = new Informer<Obj>({
      store,
      prefix: 'c/',
      logger: silentLogger,
      onEvent: (e) => events.push(e),
      retryMs: 100,
      resumeFrom: { revision: stale, items: new Map(inf.cache) },
    });
    inf2.start();
    assert.ok(inf2.cache.has('c/gone'), 'starts from the stale snapshot');
    await eventually(() => inf2.cache.get('c/new')?.n === 6 && !inf2.cache.has('c/gone'), 10_000, 're-list');
    assert.ok(events.some((e) => e.type === 'delete' && e.key === 'c/gone'), 'missed delete reported');
    await inf2.stop();
  });
});
