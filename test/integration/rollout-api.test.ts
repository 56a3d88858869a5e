// Revisions and rollout actions through the API on a real etcd (no orchestrator): what apply,
// undo, restart, pause and resume write, and what they refuse.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Revision, UpdateStatus } from '../../common/rollout.js';
import type { Service } from '../../common/types.js';
import { ClusterTokens } from '../../control-plane/auth/tokens.js';
import { buildTestApi } from '../helpers/api.js';
import type { Store } from '../../control-plane/store/store.js';
import { silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const web = (spec: Record<string, unknown> = {}) => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth/web:1', replicas: 2, env: { GREETING: 'one' }, ...spec },
});

describe('rollout API (real etcd)', function () {
  let t: TestEtcd;
  let store: Store;
  let app: FastifyInstance;
  let dataDir: string;
  let auth: Record<string, string>;

  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await app.inject(payload !== undefined ? { method, url, headers: auth, payload: payload as Record<string, unknown> } : { method, url, headers: auth });
    return { code: res.statusCode, body: res.json<Record<string, unknown>>() };
  };
  const apply = async (item: unknown) => (await call('POST', '/v1/apply', { items: [item] })).body;
  const revisions = async () => (await call('GET', '/v1/services/web/revisions')).body as unknown as { items: Revision[]; current: number };
  const service = async () => (await call('GET', '/v1/services/web')).body as unknown as Service;

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    store = t.newStore();
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-rollout-api-'));
    const tokens = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    app = buildTestApi({ store, tokens, logger: silentLogger });
    auth = { authorization: `Bearer ${tokens.adminToken}` };
  });
  afterEach(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('apply writes a revision per template change, none for an identical spec or a scale', async () => {
    await apply(web());
    await apply(web());
    await apply(web({ replicas: 5 }));
    await apply(web({ replicas: 5, image: 'berth/web:2', env: { GREETING: 'two' } }));
    const revs = await revisions();
    assert.deepEqual(revs.items.map((r) => [r.number, r.changeCause, r.summary]), [
      [1, 'apply', 'image berth/web:1'],
      [2, 'apply', 'image berth/web:1 -> berth/web:2; env GREETING'],
    ]);
    assert.equal(revs.current, 2);
    const svc = await service();
    assert.equal(svc.metadata.revision, 2);
    assert.deepEqual(svc.status?.update, { state: 'updating', revision: 2, message: 'rolling out revision 2 (apply)' });
    const u = await store.get<UpdateStatus>('updates/web');
    assert.equal(u?.previousRevision, 1);
    // Written in the same transaction as the service.
    assert.equal(u?.version, svc.metadata.version);
  });

  it('undo returns to the previous template (scale kept) as a new revision; --to-revision; unknown ones are refused', async () => {
    await apply(web());
    await apply(web({ env: { GREETING: 'two' } }));
    await apply(web({ replicas: 4, env: { GREETING: 'three' } }));
    let res = await call('POST', '/v1/services/web/rollout/undo', {});
    assert.equal(res.code, 200, JSON.stringify(res.body));
    let svc = await service();
    assert.deepEqual([svc.metadata.revision, svc.spec.env?.GREETING, svc.spec.replicas], [4, 'two', 4]);
    res = await call('POST', '/v1/services/web/rollout/undo', { toRevision: 1 });
    svc = await service();
    assert.deepEqual([svc.metadata.revision, svc.spec.env?.GREETING], [5, 'one']);
    assert.deepEqual((await revisions()).items.slice(3).map((r) => r.changeCause), ['rollout undo to 2', 'rollout undo to 1']);
    res = await call('POST', '/v1/services/web/rollout/undo', { toRevision: 42 });
    assert.equal(res.code, 409);
    assert.match(String(res.body.message), /no revision 42 \(kept: 1, 2, 3, 4, 5\)/);
  });

  it('restart makes a revision with the same spec and a restart time; pause and resume move the rollout', async () => {
    await apply(web());
    const res = await call('POST', '/v1/services/web/rollout/restart');
    assert.equal(res.code, 200);
    const svc = await service();
    assert.equal(svc.metadata.revision, 2);
    assert.ok(svc.metadata.restartedAt);
    assert.deepEqual((await revisions()).items.map((r) => [r.changeCause, r.summary]), [['apply', 'image berth/web:1'], ['rollout restart', 'restart']]);
    // Re-applying the same manifest keeps the restart time and makes no revision.
    await apply(web());
    assert.equal((await service()).metadata.restartedAt, svc.metadata.restartedAt);

    assert.equal((await call('POST', '/v1/services/web/rollout/pause')).code, 200);
    assert.equal((await service()).status?.update?.state, 'paused');
    const again = await call('POST', '/v1/services/web/rollout/pause');
    assert.equal(again.code, 409);
    assert.match(String(again.body.message), /no rollout in progress \(paused\)/);
    assert.equal((await call('POST', '/v1/services/web/rollout/resume')).code, 200);
    assert.equal((await service()).status?.update?.state, 'updating');
    assert.equal((await call('POST', '/v1/services/web/rollout/resume')).code, 409);
  });

  it('keeps revisionHistoryLimit revisions; deleting the service forgets them and its rollout', async () => {
    for (const g of ['a', 'b', 'c', 'd']) await apply(web({ revisionHistoryLimit: 2, env: { GREETING: g } }));
    assert.deepEqual((await revisions()).items.map((r) => r.number), [3, 4]);
    assert.equal((await call('DELETE', '/v1/services/web')).code, 200);
    assert.equal(await store.count('revisions/web/'), 0);
    assert.equal(await store.get('updates/web'), undefined);
    assert.equal((await call('GET', '/v1/services/web/revisions')).code, 404);
  });
});
