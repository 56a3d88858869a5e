// The leader's node liveness judgement against a real etcd, from session keys as the servers'
// dispatchers publish them: a node whose session some server holds stays ready however long the
// term has run; one its holder reports silent is down at once; one no server holds is down after
// the term's allowance and the grace; and a judge with a stale fence marks nothing.
import assert from 'node:assert/strict';
import type { Node } from '../../common/types.js';
import { NodeLiveness } from '../../control-plane/leader/node-liveness.js';
import type { SessionRecord } from '../../control-plane/leader/sessions.js';
import { Informer } from '../../control-plane/store/informer.js';
import { keys, serverKeys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const node = (id: string): Node => ({
  id,
  name: id,
  labels: {},
  availability: 'active',
  status: { state: 'ready', timestamp: new Date().toISOString() },
  capacity: { cpu: 1000, memory: 1024 ** 3 },
  allocatable: { cpu: 1000, memory: 1024 ** 3 },
  runtime: 'process',
  createdAt: new Date().toISOString(),
});
const session = (server: string, silent = false): SessionRecord => ({ server, since: new Date().toISOString(), silent });

describe('node liveness judged by the leader (real etcd)', function () {
  this.timeout(30_000);
  let t: TestEtcd;
  let store: Store;
  let nodes: Informer<Node>;
  let sessions: Informer<SessionRecord>;
  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(() => {
    store = t.newStore();
    nodes = new Informer<Node>({ store, prefix: keys.nodes, logger: silentLogger });
    sessions = new Informer<SessionRecord>({ store, prefix: serverKeys.sessions, logger: silentLogger });
  });
  afterEach(async () => {
    await nodes.stop();
    await sessions.stop();
  });
  const state = async (id: string) => (await store.get<Node>(keys.node(id)))?.status.state;

  it('held stays ready; silent is down at once; unheld is down after allowance + grace', async () => {
    for (const id of ['held', 'silent', 'unheld']) await store.create(keys.node(id), node(id));
    await store.create(serverKeys.session('held'), session('b'));
    await store.create(serverKeys.session('silent'), session('c'));
    const fence = await store.create(serverKeys.leader, { name: 'a', since: 'x' });
    const judge = new NodeLiveness({ writer: store.fenced({ key: serverKeys.leader, revision: fence }), nodes, sessions, graceMs: 300, allowanceMs: 700, logger: silentLogger });
    nodes.start();
    sessions.start();
    const startedAt = Date.now();
    await judge.start();
    try {
      const s = (await store.get<SessionRecord>(serverKeys.session('silent')))!;
      await store.put(serverKeys.session('silent'), session('c', true), s.version);
      await eventually(async () => (await state('silent')) === 'down', 2_000, 'silent: down');
      assert.ok(Date.now() - startedAt < 700, 'a silent report is acted on at once, not after the allowance');
      assert.equal(await state('unheld'), 'ready', 'within the allowance');
      await eventually(async () => (await state('unheld')) === 'down', 3_000, 'unheld: down');
      assert.ok(Date.now() - startedAt >= 1_000, 'not before allowance + grace');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await state('held'), 'ready', 'a node some server holds is never judged down');
    } finally {
      await judge.stop();
    }
  });

  it('a judge whose fence is stale marks nothing down', async () => {
    await store.create(keys.node('gone'), node('gone'));
    const stale = await store.create(serverKeys.leader, { name: 'old', since: 'x' });
    await store.delete(serverKeys.leader);
    await store.create(serverKeys.leader, { name: 'new', since: 'y' });
    let lost = 0;
    const judge = new NodeLiveness({ writer: store.fenced({ key: serverKeys.leader, revision: stale, onLost: () => lost++ }), nodes, sessions, graceMs: 100, allowanceMs: 0, logger: silentLogger });
    nodes.start();
    sessions.start();
    await judge.start();
    try {
      await eventually(() => lost > 0, 3_000, 'the refused write reported');
      assert.equal(await state('gone'), 'ready');
    } finally {
      await judge.stop();
    }
  });
});
