// The store's snapshot and load against real etcd, as backups use them: every key under the
// prefix read at one revision (in pages), keys on a lease left out, other prefixes untouched;
// a load writes the keys as they were into an empty prefix and refuses a prefix holding keys.
import assert from 'node:assert/strict';
import { loadRestoredKeys } from '../../control-plane/backup/restore.js';
import type { Store } from '../../control-plane/store/store.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

describe('store snapshot and load (real etcd)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  const stores: Store[] = [];
  const store = (prefix: string) => {
    const s = t.newStore(prefix);
    stores.push(s);
    return s;
  };

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => {
    for (const s of stores) {
      await s.deletePrefix('').catch(() => undefined);
      s.close();
    }
    await t?.stop();
  });

  it('reads every key of its prefix at one revision, without leased keys, and loads them into an empty prefix', async () => {
    const a = store('/snap-a/');
    const other = store('/snap-a-other/');
    for (let i = 0; i < 25; i++) await a.put(`services/s${String(i).padStart(2, '0')}`, { metadata: { name: `s${i}` }, spec: { replicas: i } });
    await other.put('services/elsewhere', { x: 1 });
    const lease = await a.grantLease(30);
    await a.txn([{ type: 'put', key: 'leader', value: { name: 'me' }, lease }]);

    const snap = await a.snapshot(7); // pages of 7: four reads at one revision
    // Written after the snapshot began: not in it.
    await a.put('services/late', { late: true });
    assert.equal(snap.keys.length, 25);
    assert.ok(snap.keys.every((k) => k.key.startsWith('services/s')), 'a leased key or another prefix in the snapshot');
    assert.deepEqual(JSON.parse(snap.keys[3]!.value.toString()), { metadata: { name: 's3' }, spec: { replicas: 3 } });

    const b = store('/snap-b/');
    const content = { format: 1 as const, createdAt: '', berthVersion: '', revision: snap.revision, etcdPrefix: '/snap-a/', files: {}, keys: snap.keys.map((k) => ({ key: k.key, value: k.value.toString('base64') })) };
    assert.equal(await loadRestoredKeys(b, content), 25);
    const back = await b.list<{ spec: { replicas: number } }>('services/');
    assert.equal(back.items.length, 25);
    assert.equal(back.items.find((_, i) => back.keys[i] === 'services/s07')?.spec.replicas, 7);
    await assert.rejects(loadRestoredKeys(b, content), /etcd already holds keys under \/snap-b\//);
    await a.revokeLease(lease);
  });
});
