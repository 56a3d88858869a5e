import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { ClusterTokens } from '../../control-plane/auth/tokens.js';
import { buildTestApi } from '../helpers/api.js';
import type { Store } from '../../control-plane/store/store.js';
import { silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const web = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth/web', replicas: 2, ...extra },
});

describe('API (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  let app: FastifyInstance;
  let tokens: ClusterTokens;
  let dataDir: string;
  let auth: Record<string, string>;

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    store = t.newStore();
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-api-'));
    tokens = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    app = buildTestApi({ store, tokens, logger: silentLogger });
    auth = { authorization: `Bearer ${tokens.adminToken}` };
  });
  afterEach(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores tokens as root-only files and only their hashes in etcd', async () => {
    for (const f of ['admin-token', 'join-token']) {
      assert.equal(statSync(path.join(dataDir, f)).mode & 0o777, 0o600);
    }
    const stored = JSON.stringify(await store.get('cluster/tokens'));
    assert.ok(!stored.includes(tokens.adminToken!), 'plain token not in etcd');
    const file = await tokens.writeClientConfig(dataDir, 'http://127.0.0.1:1');
    assert.deepEqual(parse(readFileSync(file!, 'utf8')), { server: 'http://127.0.0.1:1', token: tokens.adminToken });
    // With the cluster CA, as the server writes it: kubeconfig's certificate-authority-data.
    await tokens.writeClientConfig(dataDir, 'https://127.0.0.1:1', 'CA PEM');
    assert.deepEqual(parse(readFileSync(file!, 'utf8')), { server: 'https://127.0.0.1:1', token: tokens.adminToken, 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') });
    // A second start with the same data dir reuses the same tokens.
    const again = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    assert.equal(again.adminToken, tokens.adminToken);
  });

  it('refuses requests without a valid token and changes nothing; health needs none', async () => {
    const before = await store.count();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${tokens.joinToken}` }]) {
      const res = await app.inject({ method: 'POST', url: '/v1/apply', headers, payload: { items: [web()] } });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'Unauthorized');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/v1/services' })).statusCode, 401);
    assert.equal(await store.count(), before);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
  });

  it('applies, reports unchanged for an identical spec, and lists with status', async () => {
    let res = await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web()] } });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().items[0].action, 'created');
    res = await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web()] } });
    assert.equal(res.json().items[0].action, 'unchanged');
    res = await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web({ replicas: 3 })] } });
    assert.equal(res.json().items[0].action, 'configured');
    const got = (await app.inject({ method: 'GET', url: '/v1/services/web', headers: auth })).json();
    assert.equal(got.spec.replicas, 3);
    assert.ok(got.metadata.version > 0);
    assert.deepEqual(got.status, {
      desired: 3, tasks: 0, running: 0, ready: 0, upToDate: 0, available: 0,
      // Creating the service made revision 1 and its rollout; a change of replicas alone makes none.
      update: { state: 'updating', revision: 1, message: 'rolling out revision 1 (apply)' },
    });
    const list = (await app.inject({ method: 'GET', url: '/v1/services', headers: auth })).json();
    assert.deepEqual(list.items.map((s: { metadata: { name: string } }) => s.metadata.name), ['web']);
  });

  it('answers 409 to an update sent with a stale version', async () => {
    await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web()] } });
    const cur = (await app.inject({ method: 'GET', url: '/v1/services/web', headers: auth })).json();
    const stale = cur.metadata.version;
    const ok = await app.inject({ method: 'PUT', url: '/v1/services/web', headers: auth, payload: { ...web({ replicas: 4 }), metadata: { name: 'web', version: stale } } });
    assert.equal(ok.statusCode, 200, ok.body);
    const conflict = await app.inject({ method: 'PUT', url: '/v1/services/web', headers: auth, payload: { ...web({ replicas: 5 }), metadata: { name: 'web', version: stale } } });
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().error, 'Conflict');
    const now = (await app.inject({ method: 'GET', url: '/v1/services/web', headers: auth })).json();
    assert.equal(now.spec.replicas, 4, 'the stale write changed nothing');
  });

  it('rejects invalid documents with field paths and writes none of the apply', async () => {
    const before = await store.count();
    const good = { ...web(), metadata: { name: 'good' } };
    const res = await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [good, web({ replicas: -1, bogus: true })] } });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.error, 'ValidationError');
    assert.deepEqual(
      body.issues.map((i: { index: number; path: string; reason: string }) => `${i.index} ${i.path}: ${i.reason}`).sort(),
      ['1 spec.bogus: unknown field', '1 spec.replicas: must be >= 0'],
    );
    assert.equal(await store.count(), before, 'no key written');
    const dup = await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web(), web()] } });
    assert.equal(dup.statusCode, 400);
    assert.match(dup.json().message, /duplicate service name "web"/);
    assert.equal(await store.count(), before);
  });

  it('scales, deletes, and answers 404 for what does not exist', async () => {
    await app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { items: [web()] } });
    const scaled = await app.inject({ method: 'POST', url: '/v1/services/web/scale', headers: auth, payload: { replicas: 7 } });
    assert.equal(scaled.json().spec.replicas, 7);
    const badScale = await app.inject({ method: 'POST', url: '/v1/services/web/scale', headers: auth, payload: { replicas: -2 } });
    assert.equal(badScale.statusCode, 400);
    assert.match(badScale.json().message, /replicas/);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/services/web', headers: auth })).json().deleted, true);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/services/web', headers: auth })).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/services/web', headers: auth })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/tasks/nope', headers: auth })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/nodes/nope', headers: auth })).statusCode, 404);
  });

  it('serves an OpenAPI document describing every route', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/v1/openapi.json', headers: auth })).json();
    assert.equal(doc.openapi, '3.0.3');
    for (const p of ['/v1/apply', '/v1/services', '/v1/services/{name}', '/v1/services/{name}/scale', '/v1/tasks', '/v1/tasks/{ref}', '/v1/nodes', '/v1/nodes/{ref}']) {
      assert.ok(doc.paths[p], `path ${p}`);
    }
    assert.ok(doc.components.schemas.Service.properties.spec);
  });
});
