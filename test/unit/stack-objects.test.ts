// stack deploy/rm around a stack's secrets and volumes, against an in-memory API: what is checked
// before anything is written, what is created, taken back, updated and removed.
import assert from 'node:assert/strict';
import { ApiClient, ApiError } from '../../cli/api-client.js';
import { convertProject } from '../../cli/stack/compose-convert.js';
import { loadCompose } from '../../cli/stack/compose-load.js';
import { planStackObjects, removeStackVolumes } from '../../cli/stack/stack-objects.js';
import { deployable, deployStack, removeStack } from '../../cli/stack/stack-ops.js';

interface Secret { name: string; value: string; labels?: Record<string, string> }

class FakeApi extends ApiClient {
  secrets = new Map<string, Secret>();
  services = new Map<string, { metadata: { name: string; labels?: Record<string, string> }; spec: unknown }>();
  volumes: { name: string; node: string; nodeId: string; service?: string; inUse: boolean }[] = [];
  calls: string[] = [];
  failApply = false;
  busyVolume = 0;
  constructor() {
    super({ server: 'https://127.0.0.1:1' });
  }
  override async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    this.calls.push(`${method} ${path}`);
    const b = body as Record<string, unknown>;
    const name = decodeURIComponent(path.split('/')[3]?.split('?')[0] ?? '');
    const r = (v: unknown) => Promise.resolve(v as T);
    if (method === 'GET' && path === '/v1/secrets') return r({ items: [...this.secrets.values()].map((s) => ({ name: s.name, size: 1, createdAt: '', updatedAt: '', ...(s.labels ? { labels: s.labels } : {}) })) });
    if (method === 'POST' && path === '/v1/secrets') {
      this.secrets.set(b.name as string, { name: b.name as string, value: Buffer.from(b.value as string, 'base64').toString(), labels: b.labels as Record<string, string> });
      return r({});
    }
    if (method === 'PUT' && path.startsWith('/v1/secrets/')) {
      const s = this.secrets.get(name)!;
      const value = Buffer.from(b.value as string, 'base64').toString();
      const same = s.value === value;
      s.value = value;
      return r({ secret: {}, rolled: same ? [] : ['shop-api'] });
    }
    if (method === 'DELETE' && path.startsWith('/v1/secrets/')) {
      this.secrets.delete(name);
      return r({});
    }
    if (method === 'GET' && path === '/v1/services') return r({ items: [...this.services.values()] });
    if (method === 'POST' && path === '/v1/apply') {
      if (this.failApply) throw new ApiError(400, 'Invalid', 'spec.image: bad');
      const items = b.items as { metadata: { name: string } }[];
      for (const s of items) this.services.set(s.metadata.name, s as never);
      return r({ items: items.map((s) => ({ name: s.metadata.name, action: 'created' })) });
    }
    if (method === 'DELETE' && path.startsWith('/v1/services/')) {
      this.services.delete(name);
      return r({});
    }
    if (method === 'GET' && path === '/v1/volumes') return r({ items: this.volumes });
    if (method === 'DELETE' && path.startsWith('/v1/volumes/')) {
      if (this.busyVolume-- > 0) throw new ApiError(409, 'Conflict', 'in use');
      this.volumes = this.volumes.filter((v) => v.name !== name);
      return r({});
    }
    throw new Error(`unexpected ${method} ${path}`);
  }
}

const COMPOSE = `
services:
  api:
    image: api:1
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password, token, shared]
    volumes: [data:/data, cache:/cache]
secrets:
  db_password:
    file: ./db.txt
  token:
    environment: API_TOKEN
  shared:
    external: true
  unused:
    file: ./missing.txt
volumes:
  data:
  cache:
    external: true
`;

function convert(files: Record<string, string>) {
  const readText = (f: string) => {
    const t = files[f];
    if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return t;
  };
  return convertProject(loadCompose(['/p/compose.yaml'], { env: {}, readText }), 'shop', { env: {}, readText });
}

describe('stack secrets and volumes', () => {
  const files = { '/p/compose.yaml': COMPOSE, '/p/db.txt': 's3cret' };
  const readFile = (f: string) => {
    const t = (files as Record<string, string>)[f];
    if (t === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return Buffer.from(t);
  };
  const env = { API_TOKEN: 'tok' };
  let api: FakeApi;
  beforeEach(() => {
    api = new FakeApi();
    api.secrets.set('shared', { name: 'shared', value: 'x' });
    api.volumes.push({ name: 'cache', node: 'n1', nodeId: 'id1', inUse: false });
  });

  it('names secrets <stack>-<name>, mounted where compose puts them, and reads them from files and the environment', async () => {
    const c = convert(files);
    assert.deepEqual(c.services[0]!.spec.secrets, [
      { source: 'shop-db_password', target: '/run/secrets/db_password' },
      { source: 'shop-token', target: '/run/secrets/token' },
      { source: 'shared', target: '/run/secrets/shared' },
    ]);
    const plan = await planStackObjects(api, 'shop', c, { env, readFile });
    assert.deepEqual(plan.create.map((s) => [s.name, s.value.toString()]), [['shop-db_password', 's3cret'], ['shop-token', 'tok']], 'the unused secret is not created');
    assert.deepEqual(plan.update, []);
    assert.deepEqual(api.calls, ['GET /v1/secrets', 'GET /v1/volumes'], 'nothing written while planning');
  });

  it('refuses, listing every problem and writing nothing: a missing external secret or volume, an unreadable file, an unset variable, a name taken by another', async () => {
    api.secrets.clear();
    api.secrets.set('shop-token', { name: 'shop-token', value: 'x', labels: { 'berth.stack': 'other' } });
    api.volumes = [];
    const c = convert(files);
    await assert.rejects(planStackObjects(api, 'shop', c, { env: {}, readFile: () => { throw Object.assign(new Error('x'), { code: 'EACCES' }); } }), (err: Error) => {
      assert.equal(
        err.message,
        'nothing deployed:\n' +
          'secret db_password: cannot read file /p/db.txt (EACCES)\n' +
          'secret token: environment variable API_TOKEN is not set\n' +
          'secret shared: external secret "shared" does not exist (create it with berth secret create shared -f FILE)\n' +
          'volume cache: external volume "cache" does not exist on any node',
      );
      return true;
    });
    await assert.rejects(planStackObjects(api, 'shop', c, { env, readFile }), /secret token: a secret named "shop-token" exists and is not this stack's \(declare it external: true to use it\)/);
    assert.ok(api.calls.every((c) => c.startsWith('GET ')));
  });

  it('deploy creates the secrets labelled with the stack before the apply, and a failed apply takes them back', async () => {
    const c = convert(files);
    const services = deployable(c, () => undefined);
    const out: string[] = [];
    api.failApply = true;
    await assert.rejects(deployStack(api, 'shop', services, { prune: false, out: (l) => out.push(l), objects: await planStackObjects(api, 'shop', c, { env, readFile }) }), /spec.image: bad/);
    assert.deepEqual([...api.secrets.keys()], ['shared'], 'all or nothing: the created secrets are gone');
    assert.deepEqual(api.services.size, 0);

    api.failApply = false;
    await deployStack(api, 'shop', services, { prune: false, out: (l) => out.push(l), objects: await planStackObjects(api, 'shop', c, { env, readFile }) });
    assert.deepEqual(api.secrets.get('shop-db_password'), { name: 'shop-db_password', value: 's3cret', labels: { 'berth.stack': 'shop' } });
    assert.ok(api.calls.indexOf('POST /v1/secrets') < api.calls.lastIndexOf('POST /v1/apply'));

    // Again, with one value changed: only that one says it rolls.
    out.length = 0;
    await deployStack(api, 'shop', services, { prune: false, out: (l) => out.push(l), objects: await planStackObjects(api, 'shop', c, { env: { API_TOKEN: 'new' }, readFile }) });
    assert.deepEqual(out.filter((l) => l.startsWith('secret/')), ['secret/shop-token updated; rolling service/shop-api']);
  });

  it('rm removes the services and the secrets the stack created, not external ones; volumes only with --volumes, once free', async () => {
    const c = convert(files);
    await deployStack(api, 'shop', deployable(c, () => undefined), { prune: false, out: () => undefined, objects: await planStackObjects(api, 'shop', c, { env, readFile }) });
    api.volumes.push({ name: 'shop-data', node: 'n1', nodeId: 'id1', service: 'shop-api', inUse: true });
    const out: string[] = [];
    await removeStack(api, 'shop', (l) => out.push(l));
    assert.deepEqual(out, ['service/shop-api deleted', 'secret/shop-db_password removed', 'secret/shop-token removed']);
    assert.deepEqual([...api.secrets.keys()], ['shared']);
    assert.deepEqual(api.volumes.map((v) => v.name), ['cache', 'shop-data'], 'volumes kept without --volumes');

    api.busyVolume = 2;
    const removed: string[] = [];
    assert.deepEqual(await removeStackVolumes(api, ['shop-api'], (l) => removed.push(l), { sleep: () => Promise.resolve() }), []);
    assert.deepEqual(removed, ['volume/shop-data removed from node n1']);
    assert.deepEqual(api.volumes.map((v) => v.name), ['cache'], 'the external volume stays');
    await assert.rejects(removeStack(api, 'shop', () => undefined), /stack "shop" not found/);
  });
});
