// API tokens with roles and the audit log, against a real etcd and the real API: every
// registered route called with a viewer, an operator and an admin token (table-driven from the
// permission table and the routes the app registered, so a new route cannot escape), refusals
// changing nothing, revoked and expired tokens refused, and the audit naming each mutating call.
import { registry } from '../../control-plane/metrics/instruments.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import WebSocket from 'ws';
import { ROLES, type CreatedApiToken, type Role } from '../../common/access.js';
import type { AuditEntry } from '../../common/audit.js';
import { type Node, type Task } from '../../common/types.js';
import { listenApi } from '../../control-plane/api/server.js';
import { buildTestApi } from '../helpers/api.js';
import { SecretBox } from '../../control-plane/secrets/secret-box.js';
import { Secrets } from '../../control-plane/secrets/secrets.js';
import { Registries } from '../../control-plane/secrets/registries.js';
import { AuditRecorder, listAudit } from '../../control-plane/audit/recorder.js';
import { can, type Permission } from '../../control-plane/auth/permissions.js';
import { ClusterTokens } from '../../control-plane/auth/tokens.js';
import { NodeUnavailableError, type TaskStreams } from '../../control-plane/dispatcher/task-streams.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { runningTask } from '../helpers/berth.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const web = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth/web:1', replicas: 2, ...extra },
});

const NODE: Node = {
  id: 'n-roles-1',
  name: 'node-1',
  labels: {},
  availability: 'active',
  status: { state: 'down', timestamp: new Date().toISOString() },
  capacity: { cpu: 2000, memory: 2 ** 30 },
  allocatable: { cpu: 2000, memory: 2 ** 30 },
  runtime: 'process',
  createdAt: new Date().toISOString(),
};
const TASK: Task = { ...runningTask, nodeId: NODE.id, serviceName: 'web', name: 'web.1.a1b2c3' };

/** Logs and exec reach no node here: the routes exist and answer their "node not connected" line. */
const noNodes: TaskStreams = {
  openLogs: (nodeId) => {
    throw new NodeUnavailableError(nodeId);
  },
  openExec: (nodeId) => {
    throw new NodeUnavailableError(nodeId);
  },
  isConnected: () => false,
};

interface Sample {
  url: string;
  payload?: unknown;
}

/** One call per route, by `METHOD pattern`; `role` makes names unique per caller. */
function sampleOf(route: string, role: string): Sample | undefined {
  const samples: Record<string, Sample> = {
    'GET /healthz': { url: '/healthz' },
    'GET /v1/openapi.json': { url: '/v1/openapi.json' },
    'GET /metrics': { url: '/metrics' },
    'GET /v1/whoami': { url: '/v1/whoami' },
    'GET /ui': { url: '/ui' },
    'GET /ui/*': { url: '/ui/index.html' },
    'POST /v1/apply': { url: '/v1/apply', payload: { items: [web({ replicas: 3 })] } },
    'PUT /v1/services/:name': { url: '/v1/services/web', payload: web({ replicas: 4 }) },
    'GET /v1/services': { url: '/v1/services' },
    'GET /v1/services/:name': { url: '/v1/services/web' },
    'DELETE /v1/services/:name': { url: '/v1/services/web' },
    'POST /v1/services/:name/scale': { url: '/v1/services/web/scale', payload: { replicas: 5 } },
    'GET /v1/tasks': { url: '/v1/tasks' },
    'GET /v1/endpoints': { url: '/v1/endpoints' },
    'GET /v1/tasks/:ref': { url: `/v1/tasks/${TASK.name}` },
    'GET /v1/nodes': { url: '/v1/nodes' },
    'GET /v1/servers': { url: '/v1/servers' },
    'GET /v1/servers/:name': { url: '/v1/servers/none' },
    'GET /v1/nodes/:ref': { url: '/v1/nodes/node-1' },
    'POST /v1/nodes/:ref/availability': { url: '/v1/nodes/node-1/availability', payload: { availability: 'pause' } },
    'DELETE /v1/nodes/:ref': { url: '/v1/nodes/node-1' },
    'GET /v1/events': { url: '/v1/events' },
    'GET /v1/services/:name/revisions': { url: '/v1/services/web/revisions' },
    'POST /v1/services/:name/rollout/undo': { url: '/v1/services/web/rollout/undo', payload: {} },
    'POST /v1/services/:name/rollout/pause': { url: '/v1/services/web/rollout/pause' },
    'POST /v1/services/:name/rollout/resume': { url: '/v1/services/web/rollout/resume' },
    'POST /v1/services/:name/rollout/restart': { url: '/v1/services/web/rollout/restart' },
    'GET /v1/tasks/:ref/logs': { url: `/v1/tasks/${TASK.name}/logs` },
    'GET /v1/services/:name/logs': { url: '/v1/services/web/logs' },
    'POST /v1/tasks/:ref/exec': { url: `/v1/tasks/${TASK.name}/exec`, payload: { command: ['true'] } },
    'GET /v1/tokens': { url: '/v1/tokens' },
    'POST /v1/tokens': { url: '/v1/tokens', payload: { name: `made-by-${role}`, role: 'viewer' } },
    'DELETE /v1/tokens/:name': { url: `/v1/tokens/victim-${role}` },
    'GET /v1/audit': { url: '/v1/audit' },
    'GET /v1/volumes': { url: '/v1/volumes' },
    'GET /v1/usage/nodes': { url: '/v1/usage/nodes' },
    'GET /v1/usage/tasks': { url: '/v1/usage/tasks?service=web' },
    'DELETE /v1/volumes/:name': { url: '/v1/volumes/none' },
    'GET /v1/secrets': { url: '/v1/secrets' },
    'GET /v1/secrets/:name': { url: `/v1/secrets/s-${role}` },
    'POST /v1/secrets': { url: '/v1/secrets', payload: { name: `s-${role}`, value: Buffer.from('v').toString('base64') } },
    'PUT /v1/secrets/:name': { url: `/v1/secrets/s-${role}`, payload: { value: Buffer.from('w').toString('base64') } },
    'DELETE /v1/secrets/:name': { url: `/v1/secrets/s-${role}` },
    'GET /v1/configs': { url: '/v1/configs' },
    'GET /v1/configs/:name': { url: `/v1/configs/c-${role}` },
    'POST /v1/configs': { url: '/v1/configs', payload: { name: `c-${role}`, value: Buffer.from('v').toString('base64') } },
    'PUT /v1/configs/:name': { url: `/v1/configs/c-${role}`, payload: { value: Buffer.from('w').toString('base64') } },
    'DELETE /v1/configs/:name': { url: `/v1/configs/c-${role}` },
    'GET /v1/networks': { url: '/v1/networks' },
    'POST /v1/networks': { url: '/v1/networks', payload: { name: `n-${role}` } },
    'DELETE /v1/networks/:name': { url: `/v1/networks/n-${role}` },
    'GET /v1/registries': { url: '/v1/registries' },
    'PUT /v1/registries/:host': { url: `/v1/registries/${role}.registry.example:5000`, payload: { username: 'u', password: Buffer.from('p').toString('base64') } },
    'DELETE /v1/registries/:host': { url: `/v1/registries/${role}.registry.example:5000` },
  };
  return samples[route];
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

describe('API tokens, roles and audit (real etcd)', function () {
  this.timeout(120_000);
  let t: TestEtcd;
  let store: Store;
  let app: FastifyInstance;
  let audit: AuditRecorder;
  let cluster: ClusterTokens;
  let dataDir: string;
  const logLines: string[] = [];
  /** Token name -> token. */
  const tokenOf = new Map<string, string>();
  /** The audit entries the calls made so far must have produced. */
  const expected: { token: string; role: string; verb: string; status: number; refused: boolean }[] = [];

  const call = async (token: string, method: string, url: string, payload?: unknown, route?: string) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${tokenOf.get(token) ?? token}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    if (MUTATING.has(method) && route) {
      const known = tokenOf.has(token) && res.statusCode !== 401;
      expected.push({ token: known ? token : '', role: known ? roleOf(token) : '', verb: `${method} ${route}`, status: res.statusCode, refused: res.statusCode === 403 });
    }
    return res;
  };
  const roleOf = (name: string): string => (name === 'admin' ? 'admin' : (ROLES.find((r) => name.startsWith(r)) ?? ''));

  const seed = async () => {
    const res = await call('admin', 'POST', '/v1/apply', { items: [web()] }, '/v1/apply');
    assert.equal(res.statusCode, 200, res.body);
    await store.put(keys.node(NODE.id), NODE);
    await store.put(keys.task('web', TASK.id), TASK);
    for (const role of ROLES) {
      const victim = `victim-${role}`;
      await call('admin', 'DELETE', `/v1/tokens/${victim}`, undefined, '/v1/tokens/:name');
      const made = await call('admin', 'POST', '/v1/tokens', { name: victim, role: 'viewer' }, '/v1/tokens');
      assert.equal(made.statusCode, 200, made.body);
      await call('admin', 'DELETE', `/v1/tokens/made-by-${role}`, undefined, '/v1/tokens/:name');
    }
  };

  /** Every key but the audit log's (where refused calls are recorded). */
  const snapshot = async () => {
    const { items, keys: ks } = await store.list<Record<string, unknown>>('');
    return Object.fromEntries(ks.map((k, i) => [k, items[i]] as const).filter(([k]) => !k.startsWith('audit/')));
  };

  const routes = () => app.access.routes().map((r) => ({ ...r, key: `${r.method} ${r.url}` }));

  before(async () => {
    t = await startTestEtcd();
    store = t.newStore();
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-roles-'));
    cluster = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    audit = new AuditRecorder({ store, logger, flushMs: 20 });
    const metrics = { text: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) };
    const usage = { local: { nodes: () => Promise.resolve([]), tasks: () => Promise.resolve([]) } };
    const box = SecretBox.ensure(dataDir);
    app = buildTestApi({ store, tokens: cluster, logger, audit, streams: noNodes, metrics, usage, secrets: new Secrets(store, box), registries: new Registries(store, box) });
    await app.ready();
    tokenOf.set('admin', cluster.adminToken!);
    for (const role of ROLES) {
      const res = await call('admin', 'POST', '/v1/tokens', { name: `${role}-token`, role }, '/v1/tokens');
      assert.equal(res.statusCode, 200, res.body);
      const created = res.json<CreatedApiToken>();
      assert.match(created.token, /^berth-api-/);
      tokenOf.set(`${role}-token`, created.token);
    }
  });
  after(async () => {
    await app?.close();
    await audit?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await t?.stop();
  });

  it('every registered route declares a permission and has a sample call here', () => {
    const all = routes();
    assert.ok(all.length >= 25, `only ${all.length} routes`);
    for (const r of all) {
      assert.ok(r.permission, `route ${r.key} declares no permission`);
      assert.ok(sampleOf(r.key, 'viewer'), `route ${r.key} has no sample call in this test: add one`);
    }
  });

  it('shows each route\'s permission in the OpenAPI document', async () => {
    const doc = (await call('admin', 'GET', '/v1/openapi.json')).json<{ paths: Record<string, Record<string, { 'x-berth-permission'?: string }>> }>();
    assert.equal(doc.paths['/v1/apply']?.post?.['x-berth-permission'], 'services:write');
    assert.equal(doc.paths['/v1/tokens/{name}']?.delete?.['x-berth-permission'], 'tokens:write');
    assert.equal(doc.paths['/healthz']?.get?.['x-berth-permission'], undefined);
  });

  it('refuses what each role lacks with 403 naming role and permission, and writes nothing', async () => {
    await seed();
    for (const role of ROLES) {
      const before = await snapshot();
      let refused = 0;
      for (const r of routes()) {
        if (r.permission === 'public' || can(role, r.permission as Permission)) continue;
        const s = sampleOf(r.key, role)!;
        const res = await call(`${role}-token`, r.method, s.url, s.payload, r.url);
        assert.equal(res.statusCode, 403, `${role} ${r.key}: ${res.body}`);
        assert.deepEqual(res.json(), { error: 'Forbidden', message: `role ${role} lacks permission ${r.permission}` });
        refused++;
      }
      assert.deepEqual(await snapshot(), before, `refused calls of ${role} changed etcd`);
      if (role !== 'admin') assert.ok(refused > 0, `${role} was refused nothing`);
      else assert.equal(refused, 0);
    }
  });

  it('lets each role make the calls its permissions allow', async () => {
    for (const role of ROLES) {
      await seed();
      // Deletions last, so the other calls find their objects.
      const allowed = routes()
        .filter((r) => r.permission === 'public' || can(role, r.permission as Permission))
        .sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
      for (const r of allowed) {
        const s = sampleOf(r.key, role)!;
        const res = await call(`${role}-token`, r.method, s.url, s.payload, r.url);
        assert.ok(![401, 403].includes(res.statusCode) && res.statusCode < 500, `${role} ${r.key}: ${res.statusCode} ${res.body}`);
      }
    }
    // The built-in admin token is the admin too.
    assert.equal((await call('admin', 'GET', '/v1/tokens')).statusCode, 200);
  });

  it('lists tokens without their values, the built-in admin first, and refuses to revoke it', async () => {
    const res = await call('admin', 'GET', '/v1/tokens');
    const items = res.json<{ items: { name: string; role: Role; builtin?: boolean; lastUsedAt?: string }[] }>().items;
    assert.deepEqual(items[0], { ...items[0], name: 'admin', role: 'admin', builtin: true });
    for (const role of ROLES) assert.equal(items.find((i) => i.name === `${role}-token`)?.role, role);
    assert.ok(items.find((i) => i.name === 'viewer-token')?.lastUsedAt, 'viewer lastUsedAt recorded');
    for (const token of tokenOf.values()) assert.ok(!res.body.includes(token), 'a token in the list');
    assert.ok(!res.body.includes('sha256'), 'a hash in the list');
    const revoke = await call('admin', 'DELETE', '/v1/tokens/admin', undefined, '/v1/tokens/:name');
    assert.equal(revoke.statusCode, 409);
    assert.match(revoke.json().message, /built-in admin token cannot be revoked/);
    const dup = await call('admin', 'POST', '/v1/tokens', { name: 'viewer-token', role: 'admin' }, '/v1/tokens');
    assert.equal(dup.statusCode, 409);
    const bad = await call('admin', 'POST', '/v1/tokens', { name: 'Bad Name', role: 'boss' }, '/v1/tokens');
    assert.equal(bad.statusCode, 400);
  });

  it('writes lastUsedAt at most once a minute per token', async () => {
    await call('viewer-token', 'GET', '/v1/services');
    const first = await store.get<{ version: number }>('apitokens/viewer-token');
    for (let i = 0; i < 5; i++) await call('viewer-token', 'GET', '/v1/services');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await store.get<{ version: number }>('apitokens/viewer-token'))?.version, first?.version);
  });

  it('refuses revoked and expired tokens with 401, at once', async () => {
    const made = (await call('admin', 'POST', '/v1/tokens', { name: 'short', role: 'operator', ttlSeconds: 1 }, '/v1/tokens')).json<CreatedApiToken>();
    tokenOf.set('short', made.token);
    assert.equal((await call('short', 'GET', '/v1/services')).statusCode, 200);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await call('short', 'POST', '/v1/services/web/scale', { replicas: 1 }, '/v1/services/:name/scale');
    assert.equal(expired.statusCode, 401);
    assert.match(expired.json().message, /token "short" expired at/);

    const temp = (await call('admin', 'POST', '/v1/tokens', { name: 'temp', role: 'viewer' }, '/v1/tokens')).json<CreatedApiToken>();
    assert.equal((await call(temp.token, 'GET', '/v1/services')).statusCode, 200);
    assert.equal((await call('admin', 'DELETE', '/v1/tokens/temp', undefined, '/v1/tokens/:name')).statusCode, 200);
    const revoked = await call(temp.token, 'GET', '/v1/services');
    assert.equal(revoked.statusCode, 401);
    assert.equal(revoked.json().error, 'Unauthorized');
    assert.equal((await call(temp.token, 'DELETE', '/v1/services/web', undefined, '/v1/services/:name')).statusCode, 401);
  });

  it('sees tokens created and revoked through another API server', async () => {
    const other = buildTestApi({ store: t.newStore(store.prefix), tokens: cluster, logger: silentLogger });
    await other.ready();
    try {
      const made = (await call('admin', 'POST', '/v1/tokens', { name: 'elsewhere', role: 'viewer' }, '/v1/tokens')).json<CreatedApiToken>();
      const headers = { authorization: `Bearer ${made.token}` };
      // At once: a token unknown to the other server's cache is looked up in etcd.
      assert.equal((await other.inject({ method: 'GET', url: '/v1/services', headers })).statusCode, 200);
      assert.equal((await call('admin', 'DELETE', '/v1/tokens/elsewhere', undefined, '/v1/tokens/:name')).statusCode, 200);
      await eventually(async () => (await other.inject({ method: 'GET', url: '/v1/services', headers })).statusCode === 401, 5000, 'revocation seen by the other server');
    } finally {
      await other.close();
    }
  });

  it('checks the watch WebSocket the same way (token in header or ?token=)', async () => {
    const server = buildTestApi({ store, tokens: cluster, logger: silentLogger });
    const url = (await listenApi(server, '127.0.0.1:0')).replace('http', 'ws');
    const open = (query: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${url}/v1/watch?${query}`, { headers });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('error', () => undefined);
      });
    try {
      assert.equal(await open('kind=services', { authorization: `Bearer ${tokenOf.get('viewer-token')}` }), 101);
      assert.equal(await open(`kind=events&token=${tokenOf.get('viewer-token')}`), 101);
      assert.equal(await open(`kind=nodes&token=${tokenOf.get('operator-token')}`), 101);
      assert.equal(await open('kind=services&token=not-a-token'), 401);
      assert.equal(await open('kind=bogus', { authorization: `Bearer ${tokenOf.get('viewer-token')}` }), 400);
      assert.equal(await open('kind=bogus'), 401);
      const expired = tokenOf.get('short')!;
      assert.equal(await open(`kind=services&token=${expired}`), 401);
    } finally {
      await server.close();
    }
  });

  it('refuses every role a route that declares no permission (fails closed)', async () => {
    const bare = buildTestApi({ store, tokens: cluster, logger: silentLogger });
    bare.get('/v1/undeclared', () => Promise.resolve({ ok: true }));
    await bare.ready();
    try {
      const res = await bare.inject({ method: 'GET', url: '/v1/undeclared', headers: { authorization: `Bearer ${cluster.adminToken}` } });
      assert.equal(res.statusCode, 403);
      assert.match(res.json().message, /route GET \/v1\/undeclared declares no permission/);
      assert.ok(bare.access.routes().some((r) => r.url === '/v1/undeclared' && !r.permission));
    } finally {
      await bare.close();
    }
  });

  it('audits every mutating call with its token name, role and result, and records changed fields of apply', async () => {
    const changed = await call('operator-token', 'POST', '/v1/apply', { items: [web({ image: 'berth/web:2', replicas: 9 })] }, '/v1/apply');
    assert.equal(changed.statusCode, 200, changed.body);
    await audit.flushNow();
    const { items } = await listAudit(store);
    const got = items.map((e) => ({ token: e.token, role: e.role, verb: e.verb, status: e.status, refused: e.refused ?? false }));
    assert.deepEqual(got, expected, 'one entry per mutating call, in order');
    const last = items.at(-1)!;
    assert.deepEqual(last.objects, ['service/web']);
    assert.ok(last.changed?.['service/web']?.includes('spec.image'), JSON.stringify(last.changed));
    assert.ok(last.changed?.['service/web']?.includes('spec.replicas'));
    assert.ok(items.some((e) => e.verb === 'POST /v1/tasks/:ref/exec' && e.token === 'operator-token' && e.objects[0] === `task/${TASK.name}`));
    assert.ok(items.some((e) => e.refused && e.token === 'viewer-token' && e.verb === 'DELETE /v1/nodes/:ref' && e.objects[0] === 'node/node-1'));
    assert.ok(items.some((e) => e.token === '' && e.status === 401), 'calls with revoked tokens are audited without a name');
    assert.ok(items.every((e) => e.source === '127.0.0.1' && e.time));

    // Through the API: operators and admins read it, viewers do not; fromVersion continues.
    // The API reads the log through a watch: what was just stored shows within moments.
    const page = (await eventually(async () => {
      const p = (await call('operator-token', 'GET', '/v1/audit')).json<{ items: AuditEntry[]; version: number }>();
      return p.items.length === items.length ? p : undefined;
    }, 5000, 'GET /v1/audit to show every entry'))!;
    assert.deepEqual(page.items, items);
    assert.equal((await call('viewer-token', 'GET', '/v1/audit')).statusCode, 403);
    await call('admin', 'POST', '/v1/services/web/scale', { replicas: 2 }, '/v1/services/:name/scale');
    await audit.flushNow();
    const next = (await eventually(async () => {
      const n = (await call('admin', 'GET', `/v1/audit?fromVersion=${page.version}`)).json<{ items: AuditEntry[] }>();
      return n.items.length ? n : undefined;
    }, 5000, 'the scale in GET /v1/audit?fromVersion'))!;
    assert.deepEqual(next.items.map((e) => e.verb), ['POST /v1/services/:name/scale']);
  });

  it('puts no token in the audit, the log or any answer but its creation', async () => {
    // The watch's ?token= on a plain GET (no upgrade) is logged with the token masked.
    const plain = await app.inject({ method: 'GET', url: `/v1/watch?kind=services&token=${tokenOf.get('viewer-token')}`, headers: { authorization: `Bearer ${tokenOf.get('viewer-token')}` } });
    assert.equal(plain.statusCode, 404);
    await audit.flushNow();
    const stored = JSON.stringify(await store.list(''));
    const log = logLines.join('');
    assert.ok(log.includes('refused'), 'the log was captured');
    for (const [name, token] of tokenOf) {
      if (name === 'admin') continue; // the admin token's hash is in cluster/tokens; the token nowhere
      assert.ok(!stored.includes(token), `token ${name} in etcd`);
      assert.ok(!log.includes(token), `token ${name} in the log`);
    }
    assert.ok(!stored.includes(cluster.adminToken!), 'admin token in etcd');
    assert.ok(!log.includes(cluster.adminToken!), 'admin token in the log');
  });
});

describe('audit log retention (real etcd)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());

  const entry = (i: number) => ({ time: new Date().toISOString(), token: 'ci', role: 'operator', source: '127.0.0.1', verb: 'POST /v1/apply', objects: [`service/s${i}`], status: 200 });

  it('keeps at most maxEntries, deleting the oldest batches', async () => {
    const store = t.newStore();
    const rec = new AuditRecorder({ store, logger: silentLogger, maxEntries: 10, trimEvery: 5 });
    for (let batch = 0; batch < 6; batch++) {
      for (let i = 0; i < 5; i++) rec.record(entry(batch * 5 + i));
      await rec.flushNow();
    }
    await rec.stop();
    const { items } = await listAudit(store);
    assert.deepEqual(items.map((e) => e.objects[0]), Array.from({ length: 10 }, (_, i) => `service/s${20 + i}`));
    assert.deepEqual((await listAudit(store, { limit: 3 })).items.map((e) => e.objects[0]), ['service/s27', 'service/s28', 'service/s29']);
  });

  it('forgets entries older than the TTL (a lease)', async () => {
    const store = t.newStore();
    const rec = new AuditRecorder({ store, logger: silentLogger, ttlSeconds: 2 });
    rec.record(entry(1));
    await rec.stop();
    assert.equal((await listAudit(store)).items.length, 1);
    await eventually(async () => (await listAudit(store)).items.length === 0, 10_000, 'the lease to expire');
  });
});
