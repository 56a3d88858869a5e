// The API on its own thread (a real worker thread, its own etcd client): services and nodes show
// task counts sent by the main thread's informers, which the thread does not watch itself; a
// service just changed is never shown with the up-to-date count of its previous version.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { Node, Service, Task } from '../../common/types.js';
import type { WatchMessage } from '../../common/watch.js';
import { startApiThread, type ApiThread } from '../../control-plane/api/thread.js';
import { ClusterTokens } from '../../control-plane/auth/tokens.js';
import { keys } from '../../control-plane/store/keys.js';
import { createSharedInformers, stopSharedInformers, type SharedInformers } from '../../control-plane/store/shared-informers.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { makeNode, task as buildTask } from '../helpers/builders.js';
import { caFetch } from '../helpers/api-fetch.js';
import { tlsVerifyCode } from '../../cli/tls.js';
import { testPki, type TestPki } from '../helpers/pki.js';

type ServiceView = Service & { status: { tasks: number; running: number; upToDate: number; desired: number } };

function task(id: string, slot: number, image: string, state: Task['status']['state'], nodeId?: string): Task {
  const at = new Date().toISOString();
  return buildTask({ id, slot, spec: { image, replicas: 2 }, ...(nodeId ? { nodeId } : {}), state, status: { timestamp: at }, createdAt: at });
}

describe('API on its own thread (real etcd, worker thread)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let informers: SharedInformers;
  let thread: ApiThread | undefined;
  let dataDir: string;
  let token: string;
  let pki: TestPki;
  const sockets: WebSocket[] = [];

  const api = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const res = await caFetch(pki.ca.certPem)(`${thread!.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
  const web = (image: string) => ({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image, replicas: 2 } });

  before(async () => {
    t = await startTestEtcd();
    pki = await testPki();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    const prefix = `/thread-${Math.random().toString(36).slice(2, 8)}/`;
    store = t.newStore(prefix);
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-thread-'));
    const tokens = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    token = tokens.adminToken!;
    // The main thread's informers, as the server's controllers keep them.
    informers = createSharedInformers(store, silentLogger);
    informers.tasks.start();
    informers.services.start();
    thread = await startApiThread({ endpoints: t.endpoints, etcdPrefix: prefix, listen: '127.0.0.1:0', adminTokenSha256: tokens.adminTokenSha256, informers, tls: pki.tls.server, logger: silentLogger });
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    await thread?.stop();
    await stopSharedInformers(informers);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('services and nodes show the task counts the main thread sends, and follow their changes', async () => {
    await api('POST', '/v1/apply', { items: [web('berth/web:1')] });
    await store.put(keys.node('n1'), makeNode('n1'));
    await store.create(keys.task('web', 'a'), task('a', 1, 'berth/web:1', 'running', 'n1'));
    await store.create(keys.task('web', 'b'), task('b', 2, 'berth/web:1', 'assigned', 'n1'));
    const services = async () => (await api<{ items: ServiceView[] }>('GET', '/v1/services')).items;
    await eventually(async () => (await services())[0]?.status.tasks === 2, 10_000, 'two live tasks counted');
    const [svc] = await services();
    assert.deepEqual({ tasks: svc!.status.tasks, running: svc!.status.running, upToDate: svc!.status.upToDate, desired: svc!.status.desired }, { tasks: 2, running: 1, upToDate: 2, desired: 2 });
    const nodes = async () => (await api<{ items: (Node & { tasks: number })[] }>('GET', '/v1/nodes')).items;
    await eventually(async () => (await nodes())[0]?.tasks === 2, 10_000, 'two tasks on the node');

    // A task ending: fewer live tasks on the service and on the node.
    const b = (await store.get<Task>(keys.task('web', 'b')))!;
    const { version, ...rest } = b;
    await store.put(keys.task('web', 'b'), { ...rest, status: { state: 'failed', timestamp: new Date().toISOString() } }, version);
    await eventually(async () => (await api<ServiceView>('GET', '/v1/services/web')).status.tasks === 1, 10_000, 'one live task');
    await eventually(async () => (await nodes())[0]?.tasks === 1, 10_000, 'one task on the node');
  });

  it('a service just changed is shown with its tasks counted against the new spec, in GETs and in the watch', async () => {
    await api('POST', '/v1/apply', { items: [web('berth/web:1')] });
    await store.create(keys.task('web', 'a'), task('a', 1, 'berth/web:1', 'running'));
    await store.create(keys.task('web', 'b'), task('b', 2, 'berth/web:1', 'running'));
    await eventually(async () => (await api<ServiceView>('GET', '/v1/services/web')).status.upToDate === 2, 10_000, 'both tasks up to date');

    const ws = new WebSocket(`${thread!.url.replace('https', 'wss')}/v1/watch?kind=services`, { headers: { authorization: `Bearer ${token}` }, ca: pki.ca.certPem });
    sockets.push(ws);
    const messages: WatchMessage<ServiceView>[] = [];
    ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as WatchMessage<ServiceView>));
    await eventually(() => messages.length >= 1, 10_000, 'the initial list');

    // A new image: the running tasks run the old spec. Asked at once, before the main thread has
    // counted the new version, the answer must not carry the old version's count.
    await api('POST', '/v1/apply', { items: [web('berth/web:2')] });
    const now = await api<ServiceView>('GET', '/v1/services/web');
    assert.equal(now.spec.image, 'berth/web:2');
    assert.equal(now.status.upToDate, 0, 'counted against the new spec');
    assert.equal(now.status.running, 2);

    const ofNewSpec = () => messages.filter((m): m is Extract<WatchMessage<ServiceView>, { object: ServiceView }> => m.type !== 'ERROR' && m.object.spec.image === 'berth/web:2');
    await eventually(() => ofNewSpec().length >= 1, 10_000, 'a MODIFIED with the new spec');
    for (const m of ofNewSpec()) assert.equal(m.object.status.upToDate, 0, `watch message ${JSON.stringify(m)}`);
  });

  it('serves HTTPS only: plain HTTP and another CA are refused', async () => {
    const url = thread!.url;
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await caFetch(pki.ca.certPem)(`${url}/healthz`)).status, 200);
    await assert.rejects(fetch(url.replace('https:', 'http:') + '/healthz'), 'plain HTTP gets no answer');
    const other = await testPki();
    // Both CAs are named CN=berth-cluster-ca: OpenSSL finds the issuer by name, then its signature fails.
    await assert.rejects(caFetch(other.ca.certPem)(`${url}/healthz`), (err: Error) => {
      assert.equal(tlsVerifyCode(err), 'CERT_SIGNATURE_FAILURE');
      return true;
    });
  });

  it('stops: the thread ends and its port is closed', async () => {
    const url = thread!.url;
    await thread!.stop();
    thread = undefined;
    await assert.rejects(caFetch(pki.ca.certPem)(`${url}/healthz`));
  });
});
