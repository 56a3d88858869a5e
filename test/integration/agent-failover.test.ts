// An agent session and several dispatchers of one cluster (real etcd, real TLS): the dispatchers
// send every server's agent address after the full set and when it changes; the agent keeps the
// list in its data dir, moves to another dispatcher when its own stops, with the same node
// certificate; a dispatcher whose certificate
// does not name the address it is reached at is named in the agent's log, and skipped.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { FakeWorker } from '../../agent/fake-worker.js';
import { AgentSession } from '../../agent/session/session.js';
import { SERVERS_FILE } from '../../agent/session/server-list.js';
import { DISPATCHER_TLS_NAME, generateKeyPair } from '../../common/pki/certs.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import type { AgentAddressBook } from '../../control-plane/leader/server-directory.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki, type TestPki } from '../helpers/pki.js';

/** An address book the test changes by hand (a server's comes from etcd, server-directory.ts). */
class Book implements AgentAddressBook {
  addresses: string[] = [];
  private readonly listeners = new Set<(a: string[]) => void>();
  agentAddresses(): string[] {
    return this.addresses;
  }
  onAgentAddresses(l: (a: string[]) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(addresses: string[]): void {
    this.addresses = addresses;
    for (const l of this.listeners) l(addresses);
  }
}

describe('agent failover between dispatchers (real etcd, real TLS)', function () {
  this.timeout(90_000);
  let t: TestEtcd;
  let store: Store;
  let pki: TestPki;
  let token: string;
  let dir: string;
  const cleanups: (() => unknown)[] = [];
  const book = new Book();

  const startDispatcher = async (tls: TestPki['tls'] = pki.tls): Promise<{ d: Dispatcher; address: string }> => {
    const d = new Dispatcher({ store, logger: silentLogger, listen: '127.0.0.1:0', verifyJoinToken: (x) => x === token, tls, heartbeatIntervalMs: 100, heartbeatGraceMs: 3000, servers: book });
    await d.start();
    cleanups.push(() => d.stop());
    return { d, address: `127.0.0.1:${d.port}` };
  };

  const session = (server: string, worker: FakeWorker, lines: string[]) => {
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const s = new AgentSession({
      server,
      joinToken: token,
      identityDir: dir,
      nodeName: 'n1',
      labels: {},
      capacity: { cpu: 1000, memory: 2 ** 30 },
      runtime: 'process',
      agentVersion: 'test',
      worker,
      logger,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    cleanups.push(() => s.stop());
    return s;
  };

  before(async () => {
    t = await startTestEtcd();
    pki = await testPki();
    token = pki.token();
  });
  beforeEach(() => {
    store = t.newStore();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-failover-'));
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await store.deletePrefix('');
    rmSync(dir, { recursive: true, force: true });
  });
  after(async () => t?.stop());

  it('learns the servers, keeps them, and moves to another dispatcher when its own stops', async () => {
    const a = await startDispatcher();
    const b = await startDispatcher();
    book.set([a.address, b.address]);
    const worker = new FakeWorker();
    const lines: string[] = [];
    const s = session(a.address, worker, lines);
    void s.start();
    await eventually(() => s.connected && s.server === a.address, 15_000, 'connected to a');
    await eventually(() => s.servers.all.length === 2, 5_000, 'the list of servers received');
    const kept = JSON.parse(readFileSync(path.join(dir, SERVERS_FILE), 'utf8')) as { agentAddresses: string[] };
    assert.deepEqual(kept.agentAddresses, [a.address, b.address]);

    // A third server registers: every agent is told.
    const c = await startDispatcher();
    book.set([a.address, b.address, c.address]);
    await eventually(() => s.servers.all.length === 3, 5_000, 'told of the third server');

    const certBefore = s.identity.credentials!.serial;
    await a.d.stop();
    await eventually(() => s.connected && s.server !== a.address, 15_000, 'connected to another dispatcher');
    assert.equal(s.identity.credentials!.serial, certBefore, 'the same node certificate');
    assert.ok(lines.some((l) => l.includes('moving to another server') && l.includes(a.address)), 'the move is logged');
    assert.ok([b.d, c.d].some((d) => d.isConnected(s.nodeId!)));
  });

  it('a dispatcher whose certificate does not name the address dialled is named in the log, and skipped', async () => {
    const a = await startDispatcher();
    const key = await generateKeyPair();
    const misnamed = await pki.ca.issueServerCert(key.keys.publicKey, { dns: [DISPATCHER_TLS_NAME, 'elsewhere.test'], ips: [] }, 3600_000);
    const bad = await startDispatcher({ ...pki.tls, server: { certPem: misnamed.certPem, keyPem: key.keyPem } });
    book.set([a.address, bad.address]);
    const lines: string[] = [];
    const s = session(a.address, new FakeWorker(), lines);
    void s.start();
    await eventually(() => s.connected && s.servers.all.length === 2, 15_000, 'connected to a, told of the other');
    await a.d.stop();
    await eventually(() => lines.some((l) => l.includes(`the server at ${bad.address} presents a certificate that does not name 127.0.0.1`)), 15_000, 'the misnamed server named');
    const said = lines.filter((l) => l.includes('presents a certificate that does not name'));
    assert.match(said[0]!, /"level":50/);
    assert.match(said[0]!, /--tls-san 127\.0\.0\.1 or --advertise-addr/);
    assert.equal(s.connected, false, 'it did not use the misnamed server');
  });
});
