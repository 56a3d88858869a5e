// Node availability and removal through the API, against a real etcd.
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Node } from '../../common/types.js';
import { buildTestApi } from '../helpers/api.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { makeNode } from '../helpers/builders.js';

const TOKEN = 'admin-secret';

const node = (id: string, state: Node['status']['state']): Node => makeNode(id, { name: `node-${id}`, state, runtime: 'process' });

describe('node admin API (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  let app: FastifyInstance;
  const headers = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    t = await startTestEtcd();
    store = t.newStore();
    app = buildTestApi({ store, tokens: { verifyAdmin: (tok) => tok === TOKEN }, logger: silentLogger });
    await store.create(keys.node('a1'), node('a1', 'ready'));
    await store.create(keys.node('b2'), node('b2', 'down'));
  });
  after(async () => {
    await app?.close();
    await t?.stop();
  });

  it('sets availability by node name, and refuses an unknown value', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/nodes/node-a1/availability', headers, payload: { availability: 'drain' } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<Node>().availability, 'drain');
    assert.equal((await store.get<Node>(keys.node('a1')))?.availability, 'drain');

    const bad = await app.inject({ method: 'POST', url: '/v1/nodes/node-a1/availability', headers, payload: { availability: 'off' } });
    assert.equal(bad.statusCode, 400);
    const missing = await app.inject({ method: 'POST', url: '/v1/nodes/nope/availability', headers, payload: { availability: 'pause' } });
    assert.equal(missing.statusCode, 404);
  });

  it('GET /v1/nodes shows a change made through the API at once, every time, and changes from elsewhere soon after', async () => {
    for (let i = 0; i < 20; i++) {
      const want = i % 2 ? 'active' : 'pause';
      const set = await app.inject({ method: 'POST', url: '/v1/nodes/node-a1/availability', headers, payload: { availability: want } });
      assert.equal(set.statusCode, 200, set.body);
      const list = await app.inject({ method: 'GET', url: '/v1/nodes', headers });
      assert.equal(list.statusCode, 200, list.body);
      assert.equal(list.json<{ items: Node[] }>().items.find((n) => n.name === 'node-a1')?.availability, want, `round ${i}`);
    }
    // Another process (a second client of the same etcd) labels the node.
    const other = t.newStore(store.prefix);
    try {
      const cur = (await other.get<Node>(keys.node('a1')))!;
      await other.put(keys.node('a1'), { ...cur, labels: { zone: 'z9' } }, cur.version);
    } finally {
      other.close();
    }
    await eventually(async () => {
      const list = await app.inject({ method: 'GET', url: '/v1/nodes', headers });
      return list.json<{ items: Node[] }>().items.find((n) => n.name === 'node-a1')?.labels.zone === 'z9';
    }, 5000, 'the label written elsewhere');
  });

  it('removes only a node that is down; a ready one is a 409 that says why', async () => {
    const refused = await app.inject({ method: 'DELETE', url: '/v1/nodes/node-a1', headers });
    assert.equal(refused.statusCode, 409);
    assert.match(refused.json<{ message: string }>().message, /node "node-a1" is ready: only a node that is down can be removed/);
    assert.ok(await store.get(keys.node('a1')));

    const removed = await app.inject({ method: 'DELETE', url: '/v1/nodes/node-b2', headers });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.equal(await store.get(keys.node('b2')), undefined);
  });
});
