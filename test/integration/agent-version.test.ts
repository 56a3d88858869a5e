// The dispatcher checks the version an agent announces (real etcd, real TLS): an agent newer than
// the server is refused with a message naming both versions and nothing is registered; one minor
// version older joins, and its version is on its node.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { FakeWorker } from '../../agent/fake-worker.js';
import { AgentSession } from '../../agent/session/session.js';
import type { Node } from '../../common/types.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki, type TestPki } from '../helpers/pki.js';

describe('agent versions at the dispatcher (real etcd, real TLS)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let pki: TestPki;
  let token: string;
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    t = await startTestEtcd();
    pki = await testPki();
    token = pki.token();
    store = t.newStore();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await store.deletePrefix('');
  });
  after(async () => {
    store?.close();
    await t?.stop();
  });

  const dispatcher = async (): Promise<Dispatcher> => {
    const d = new Dispatcher({ store, logger: silentLogger, listen: '127.0.0.1:0', verifyJoinToken: (x) => x === token, tls: pki.tls, serverVersion: '0.4.1' });
    await d.start();
    cleanups.push(() => d.stop());
    return d;
  };

  const session = (d: Dispatcher, name: string, agentVersion: string, lines: string[]): AgentSession => {
    const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const s = new AgentSession({
      server: `127.0.0.1:${d.port}`,
      joinToken: token,
      nodeName: name,
      labels: {},
      capacity: { cpu: 1000, memory: 2 ** 30 },
      runtime: 'process',
      agentVersion,
      worker: new FakeWorker(),
      logger,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    cleanups.push(() => s.stop());
    return s;
  };

  it('refuses an agent newer than the server, saying so with both versions, registering nothing', async () => {
    const d = await dispatcher();
    const lines: string[] = [];
    const s = session(d, 'too-new', '0.5.0', lines);
    void s.start();
    const refused = await eventually(() => lines.find((l) => l.includes('refused by the server')), 15_000, 'the refusal logged');
    assert.match(refused!, /agent version 0\.5\.0 is too new for server version 0\.4\.1: upgrade the servers first/);
    assert.equal(s.connected, false);
    assert.equal(await store.count(keys.nodes), 0, 'nothing registered');
  });

  it('accepts an agent one minor version older and shows its version on its node', async () => {
    const d = await dispatcher();
    const s = session(d, 'older', '0.3.9', []);
    void s.start();
    await eventually(() => s.connected, 15_000, 'session established');
    const node = await store.get<Node>(keys.node(s.nodeId!));
    assert.equal(node?.agentVersion, '0.3.9');
  });
});
