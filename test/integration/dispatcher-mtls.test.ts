// The dispatcher's mutual TLS against real etcd and real TLS: joining pins the CA named by the
// token, every call but Join needs a certificate of the cluster's CA, a node's certificate
// speaks for that node only, certificates are renewed without disturbing the session, and an
// expired one needs the join token again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FakeWorker } from '../../agent/fake-worker.js';
import { CaMismatchError, NodeIdentityError } from '../../agent/session/identity-errors.js';
import { NODE_KEY_FILE, type NodeCredentials } from '../../agent/session/identity.js';
import { AgentSession } from '../../agent/session/session.js';
import { createCsr, generateKeyPair } from '../../common/pki/certs.js';
import type { Node, Task } from '../../common/types.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { revokeOp } from '../../control-plane/pki/revocations.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import type { DispatcherClient } from '../../proto/generated/berth/v1/Dispatcher.js';
import type { ServerMessage__Output } from '../../proto/generated/berth/v1/ServerMessage.js';
import { loadBerthProto } from '../../proto/load.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki, type TestPki } from '../helpers/pki.js';

const REGISTRATION = { labels: {}, capacity: { cpuMillicores: 1000, memoryBytes: 2 ** 30 }, runtime: 'process', agentVersion: 'test' };

describe('dispatcher mutual TLS (real etcd, real TLS)', function () {
  this.timeout(90_000);
  let t: TestEtcd;
  let store: Store;
  let pki: TestPki;
  let token: string;
  const cleanups: (() => unknown)[] = [];

  const startDispatcher = async (tls: TestPki['tls'], downs: string[] = []): Promise<Dispatcher> => {
    const d = new Dispatcher({
      store,
      logger: silentLogger,
      listen: '127.0.0.1:0',
      verifyJoinToken: (x) => x === token,
      tls,
      heartbeatIntervalMs: 100,
      heartbeatGraceMs: 1500,
      onNodeDown: (id) => downs.push(id),
    });
    await d.start();
    cleanups.push(() => d.stop());
    return d;
  };

  const newSession = (d: Dispatcher, name: string, o: { token?: string; dir?: string; worker?: FakeWorker } = {}): AgentSession => {
    const s = new AgentSession({
      server: `127.0.0.1:${d.port}`,
      ...(o.token !== undefined ? (o.token ? { joinToken: o.token } : {}) : { joinToken: token }),
      ...(o.dir ? { identityDir: o.dir } : {}),
      nodeName: name,
      labels: {},
      capacity: { cpu: 1000, memory: 2 ** 30 },
      runtime: 'process',
      agentVersion: 'test',
      worker: o.worker ?? new FakeWorker(),
      logger: silentLogger,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    cleanups.push(() => s.stop());
    return s;
  };

  const connected = async (s: AgentSession): Promise<string> => {
    void s.start();
    await eventually(() => s.connected, 15_000, 'session established');
    return s.nodeId!;
  };

  /** A raw gRPC client: TLS trusting `caPem`, with the given client certificate (or none). */
  const rawClient = (d: Dispatcher, caPem: string, cred?: { keyPem: string; certPem: string }): DispatcherClient => {
    const Client = loadBerthProto().Dispatcher;
    const c = new Client(
      `127.0.0.1:${d.port}`,
      grpc.credentials.createSsl(Buffer.from(caPem), cred ? Buffer.from(cred.keyPem) : null, cred ? Buffer.from(cred.certPem) : null),
    );
    cleanups.push(() => c.close());
    return c;
  };

  const register = (c: DispatcherClient, nodeName: string) =>
    new Promise<{ err: grpc.ServiceError | null; sessionToken?: string }>((resolve) =>
      c.Register({ nodeName, ...REGISTRATION }, { deadline: Date.now() + 5000 }, (err, res) => resolve({ err, ...(res ? { sessionToken: res.sessionToken } : {}) })),
    );

  const renew = async (c: DispatcherClient) => {
    const csr = await createCsr((await generateKeyPair()).keys);
    return new Promise<grpc.ServiceError | null>((resolve) => c.Renew({ csr }, { deadline: Date.now() + 5000 }, (err) => resolve(err)));
  };

  /** Opens a Session with a hello; resolves with the first message or the error that ended it. */
  const hello = (c: DispatcherClient, nodeId: string, sessionToken: string) =>
    new Promise<{ err?: grpc.ServiceError; msg?: ServerMessage__Output }>((resolve) => {
      const call = c.Session();
      call.on('data', (msg: ServerMessage__Output) => {
        resolve({ msg });
        call.cancel();
      });
      call.on('error', (err: grpc.ServiceError) => resolve({ err }));
      call.write({ hello: { nodeId, sessionToken, statuses: [] } });
    });

  const credsOf = (s: AgentSession): NodeCredentials => s.identity.credentials!;

  before(async () => {
    t = await startTestEtcd();
    pki = await testPki();
    token = pki.token();
  });
  beforeEach(() => {
    store = t.newStore();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await store.deletePrefix('');
  });
  after(async () => t?.stop());

  it('refuses to join a server whose CA is not the one the token names, sending nothing', async () => {
    const impostor = await testPki();
    const other = await startDispatcher(impostor.tls);
    const result = await newSession(other, 'node-x').start();
    assert.ok(result instanceof CaMismatchError, `expected a CA mismatch, got ${String(result)}`);
    assert.match(result.message, new RegExp(`expects the cluster CA with SHA-256 ${pki.ca.digest}`));
    assert.match(result.message, new RegExp(impostor.ca.digest));
    assert.equal(await store.count(keys.nodes), 0, 'nothing registered');
  });

  it('refuses plaintext gRPC', async () => {
    const d = await startDispatcher(pki.tls);
    const Client = loadBerthProto().Dispatcher;
    const c = new Client(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure());
    cleanups.push(() => c.close());
    const { err } = await register(c, 'plain');
    assert.equal(err?.code, grpc.status.UNAVAILABLE, `plaintext must not get an answer: ${err?.message}`);
  });

  it('allows only Join without a certificate, and no call with a certificate of another CA', async () => {
    const d = await startDispatcher(pki.tls);
    const nodeId = await connected(newSession(d, 'node-a'));

    const anonymous = rawClient(d, pki.ca.certPem);
    const noCert = await register(anonymous, 'node-a');
    assert.equal(noCert.err?.code, grpc.status.UNAUTHENTICATED);
    assert.match(noCert.err.details, /needs a valid client certificate/);
    assert.equal((await renew(anonymous))?.code, grpc.status.UNAUTHENTICATED);
    const anonSession = await hello(anonymous, nodeId, "x");
    assert.equal(anonSession.err?.code, grpc.status.UNAUTHENTICATED, anonSession.err?.details);

    // A certificate for the same node id, signed by another CA.
    const foreign = await testPki();
    const key = await generateKeyPair();
    const forged = await foreign.ca.signNodeCsr(await createCsr(key.keys), nodeId, 3600_000);
    const forger = rawClient(d, pki.ca.certPem, { keyPem: key.keyPem, certPem: forged.certPem });
    // Refused by TLS (connection dropped) or by the call's check: never an answer.
    const refused = [grpc.status.UNAUTHENTICATED, grpc.status.UNAVAILABLE];
    const r = await register(forger, 'node-a');
    assert.ok(r.err && refused.includes(r.err.code), `register: ${r.err?.code} ${r.err?.details}`);
    const renewed = await renew(forger);
    assert.ok(renewed && refused.includes(renewed.code), `renew: ${renewed?.code}`);
    const forgedSession = await hello(forger, nodeId, 'x');
    assert.ok(forgedSession.err && refused.includes(forgedSession.err.code), `session: ${JSON.stringify(forgedSession.msg)}`);
  });

  it('lets the certificate of node A speak for node A only', async () => {
    const d = await startDispatcher(pki.tls);
    const a = newSession(d, 'node-a');
    const b = newSession(d, 'node-b');
    await connected(a);
    const nodeB = await connected(b);
    const task: Task = {
      id: 'task-of-b',
      name: 'db.1.b',
      serviceName: 'db',
      slot: 1,
      serviceVersion: 1,
      spec: { image: 'busybox:latest' },
      desiredState: 'running',
      nodeId: nodeB,
      status: { state: 'assigned', timestamp: new Date().toISOString() },
      createdAt: new Date().toISOString(),
    };
    await store.create(keys.task('db', task.id), task);
    await eventually(async () => (await store.get<Task>(keys.task('db', task.id)))?.status.state === 'running', 10_000, 'running on node-b');

    const asA = rawClient(d, pki.ca.certPem, credsOf(a));
    const asB = rawClient(d, pki.ca.certPem, credsOf(b));
    const wrongName = await register(asA, 'node-b');
    assert.equal(wrongName.err?.code, grpc.status.PERMISSION_DENIED);
    assert.match(wrongName.err.details, /not node node-b's/);

    // Even holding node B's session token, A's certificate cannot open B's session (B's tasks).
    const { sessionToken } = await register(asB, 'node-b');
    assert.ok(sessionToken);
    const stolen = await hello(asA, nodeB, sessionToken);
    assert.equal(stolen.err?.code, grpc.status.PERMISSION_DENIED, `expected a refusal, got ${JSON.stringify(stolen.msg)}`);
    assert.match(stolen.err.details, new RegExp(`not node ${nodeB}'s`));
    // B's own certificate with the same hello gets B's tasks.
    const own = await hello(asB, nodeB, sessionToken);
    assert.equal(own.msg?.assignments?.tasks[0]?.id, task.id);
  });

  it('renews certificates during a run: the session stays, nothing restarts, the old certificate expires', async () => {
    const shortPki = { ...pki.tls, nodeCertTtlMs: 6000 };
    const downs: string[] = [];
    const d = await startDispatcher(shortPki, downs);
    const worker = new FakeWorker();
    const s = newSession(d, 'node-r', { worker });
    const nodeId = await connected(s);
    const task: Task = {
      id: 'task-r',
      name: 'web.1.r',
      serviceName: 'web',
      slot: 1,
      serviceVersion: 1,
      spec: { image: 'busybox:latest' },
      desiredState: 'running',
      nodeId,
      status: { state: 'assigned', timestamp: new Date().toISOString() },
      createdAt: new Date().toISOString(),
    };
    await store.create(keys.task('web', task.id), task);
    await eventually(async () => (await store.get<Task>(keys.task('web', task.id)))?.status.state === 'running', 10_000, 'running');
    const first = credsOf(s);
    const serials = new Set([first.serial]);
    const deadline = Date.now() + 16_000;
    while (Date.now() < deadline) {
      serials.add(credsOf(s).serial);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(serials.size >= 3, `expected at least two renewals, saw ${serials.size - 1}`);
    assert.ok(s.connected, 'session up');
    assert.deepEqual(downs, [], 'the node was never down');
    assert.equal((await store.get<Node>(keys.node(nodeId)))?.status.state, 'ready');
    assert.equal(worker.starts.get(task.id), 1, 'the task was started once');

    // The first certificate has expired: it no longer opens anything.
    const old = rawClient(d, pki.ca.certPem, first);
    const r = await register(old, 'node-r');
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    assert.match(r.err.details, /needs a valid client certificate/);
  });

  it('ends the session of a revoked node and refuses its certificate from then on', async () => {
    const d = await startDispatcher(pki.tls);
    const s = newSession(d, 'node-v');
    const nodeId = await connected(s);
    const creds = credsOf(s);
    const finished = s.start();
    await store.txn([revokeOp({ id: nodeId, name: 'node-v' })]);
    const outcome = await finished;
    assert.ok(outcome instanceof Error, 'the agent gives up');
    assert.match(outcome.message, /removed from the cluster|revoked/);
    const r = await register(rawClient(d, pki.ca.certPem, creds), 'node-v');
    assert.equal(r.err?.code, grpc.status.PERMISSION_DENIED);
  });

  it('keeps the certificate in the data dir, reconnects without a token, and needs one once it expired', async () => {
    const d = await startDispatcher({ ...pki.tls, nodeCertTtlMs: 4000 });
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-identity-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = newSession(d, 'node-d', { dir });
    const nodeId = await connected(first);
    assert.equal(statSync(path.join(dir, NODE_KEY_FILE)).mode & 0o777, 0o600);
    await first.stop();

    const again = newSession(d, 'node-d', { dir, token: '' });
    assert.equal(await connected(again), nodeId, 'reconnected with its certificate alone');
    await again.stop();

    await new Promise((r) => setTimeout(r, 4500)); // away longer than the certificate lives
    const expired = await newSession(d, 'node-d', { dir, token: '' }).start();
    assert.ok(expired instanceof NodeIdentityError, `expected a clear refusal, got ${String(expired)}`);
    assert.match(expired.message, /expired at .*join token/);
    assert.equal(await connected(newSession(d, 'node-d', { dir })), nodeId, 'joined again with the token, same node');
  });
});
