import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { Informer } from '../../control-plane/store/informer.js';
import { taskIndexes } from '../../control-plane/store/shared-informers.js';
import type { Store, WatchEvent } from '../../control-plane/store/store.js';
import { silentLogger } from '../helpers/etcd.js';

const NOW = '2026-01-01T00:00:00.000Z';
let version = 1;

function task(id: string, service: string, nodeId: string | undefined): Task {
  return {
    id,
    name: `${service}.1.${id}`,
    serviceName: service,
    slot: 1,
    serviceVersion: 1,
    spec: { image: 'berth/web' },
    desiredState: 'running',
    ...(nodeId !== undefined ? { nodeId } : {}),
    status: { state: 'running', timestamp: NOW },
    createdAt: NOW,
    version: version++,
  };
}

const key = (t: Task) => `tasks/${t.serviceName}/${t.id}`;

/** A store that lists `initial` and hands the test the watch's event callback and loss. */
function fakeStore(initial: Task[]) {
  let items = initial;
  const watch: { emit?: (ev: WatchEvent<Task>, rev: number) => void; lose?: (err: Error) => void } = {};
  let revision = 10;
  const store = {
    list: () => Promise.resolve({ items, keys: items.map(key), revision }),
    watch: (_prefix: string, _from: number, onEvent: (ev: WatchEvent<Task>, rev: number) => void, onLost: (err: Error) => void) => {
      watch.emit = onEvent;
      watch.lose = onLost;
      return Promise.resolve(() => Promise.resolve());
    },
  } as unknown as Store;
  return {
    store,
    put: (t: Task) => watch.emit!({ type: 'put', key: key(t), value: t }, ++revision),
    del: (t: Task) => watch.emit!({ type: 'delete', key: key(t), previous: t }, ++revision),
    relist: (next: Task[]) => {
      items = next;
      revision += 5;
      watch.lose!(new Error('compacted'));
    },
  };
}

const ids = (m: ReadonlyMap<string, Task> | undefined) => [...(m?.values() ?? [])].map((t) => t.id);

describe('informer indexes (tasks by service and by node)', () => {
  it('are filled by the first list and kept on every change, before handlers run', async () => {
    const a = task('a', 'web', 'n1');
    const b = task('b', 'web', 'n2');
    const c = task('c', 'db', 'n1');
    const fake = fakeStore([a, b, c]);
    const informer = new Informer<Task>({ store: fake.store, prefix: 'tasks/', logger: silentLogger });
    const { byService, byNode } = taskIndexes(informer);
    const seen: string[][] = [];
    informer.subscribe(() => seen.push(ids(byService.get('web'))));
    informer.start();
    await informer.synced;
    assert.deepEqual(ids(byService.get('web')), ['a', 'b']);
    assert.deepEqual(ids(byNode.get('n1')), ['a', 'c']);
    assert.deepEqual([...byService.keys()].sort(), ['db', 'web']);

    const a2 = { ...task('a', 'web', 'n1'), status: { state: 'failed' as const, timestamp: NOW } };
    fake.put(a2);
    // By service, a changed task moves to the end (the order of last change); by node it keeps its place.
    assert.deepEqual(ids(byService.get('web')), ['b', 'a']);
    assert.equal(byService.get('web')!.get(key(a2)), a2);
    assert.deepEqual(ids(byNode.get('n1')), ['a', 'c']);
    assert.deepEqual(seen, [['b', 'a']], 'the handler saw the index already updated');

    const moved = { ...task('c', 'db', 'n3') };
    fake.put(moved);
    assert.deepEqual(ids(byNode.get('n1')), ['a']);
    assert.deepEqual(ids(byNode.get('n3')), ['c']);

    fake.del(moved);
    assert.equal(byService.get('db'), undefined, 'an emptied group is gone');
    assert.equal(byNode.get('n3'), undefined);
    assert.deepEqual([...byService.keys()], ['web']);
    await informer.stop();
  });

  it('leaves tasks without a node out of the node index', async () => {
    const fake = fakeStore([task('p', 'web', undefined)]);
    const informer = new Informer<Task>({ store: fake.store, prefix: 'tasks/', logger: silentLogger });
    const { byService, byNode } = taskIndexes(informer);
    informer.start();
    await informer.synced;
    assert.deepEqual(ids(byService.get('web')), ['p']);
    assert.deepEqual([...byNode.keys()], []);
    fake.put(task('p', 'web', 'n1'));
    assert.deepEqual(ids(byNode.get('n1')), ['p']);
    await informer.stop();
  });

  it('follows a re-list through the differences it reports', async () => {
    const a = task('a', 'web', 'n1');
    const b = task('b', 'web', 'n1');
    const fake = fakeStore([a, b]);
    const informer = new Informer<Task>({ store: fake.store, prefix: 'tasks/', logger: silentLogger, retryMs: 1 });
    const { byService, byNode } = taskIndexes(informer);
    informer.start();
    await informer.synced;
    const b2 = task('b', 'web', 'n2');
    const c = task('c', 'db', 'n2');
    fake.relist([b2, c]);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(ids(byService.get('web')), ['b']);
    assert.deepEqual(ids(byService.get('db')), ['c']);
    assert.equal(byNode.get('n1'), undefined);
    assert.deepEqual(ids(byNode.get('n2')).sort(), ['b', 'c']);
    await informer.stop();
  });

  it('are built from the cache when added late, and one name has one function', async () => {
    const fake = fakeStore([task('a', 'web', 'n1')]);
    const informer = new Informer<Task>({ store: fake.store, prefix: 'tasks/', logger: silentLogger });
    informer.start();
    await informer.synced;
    const first = taskIndexes(informer);
    assert.deepEqual(ids(first.byNode.get('n1')), ['a']);
    assert.equal(taskIndexes(informer).byService, first.byService, 'adding again returns the same index');
    assert.equal(informer.index('byNode'), first.byNode);
    assert.throws(() => informer.addIndex('byNode', (t) => t.id), /another function/);
    assert.throws(() => informer.index('nope'), /no index/);
    await informer.stop();
  });
});
