import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Store } from '../../control-plane/store/store.js';
import { runBerth, startServer, type TestServer } from '../helpers/berth.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

// A server on an etcd the test can read, so "nothing written" is checked key by key.
describe('e2e: dry runs write nothing to etcd', function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  let server: TestServer;
  let store: Store;
  let dir: string;

  before(async () => {
    etcd = await startTestEtcd();
    server = await startServer({ extraArgs: ['--etcd', etcd.endpoints.join(',')] });
    store = etcd.newStore('/berth/');
    dir = mkdtempSync(path.join(tmpdir(), 'berth-dry-'));
  });
  after(async () => {
    await server?.stop();
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const OBJECT_PREFIXES = ['services/', 'tasks/', 'revisions/', 'updates/', 'nodes/'];
  const manifest = (replicas: number) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  image: berth/web:latest\n  replicas: ${replicas}\n`;

  it('apply --dry-run=server and --dry-run=client change no key; a real apply does', async () => {
    const file = path.join(dir, 'web.yaml');
    writeFileSync(file, manifest(2));
    // The cluster's objects (the audit log records the dry run itself, so it is left out).
    const objectKeys = async () => (await Promise.all(OBJECT_PREFIXES.map((p) => store.list(p)))).flatMap((r) => r.keys);
    const before = await objectKeys();

    const server1 = await runBerth(['apply', '-f', file, '--dry-run=server'], { config: server.configPath });
    assert.equal(server1.code, 0, server1.stderr);
    assert.match(server1.stdout, /service\/web created \(server dry run\)/);
    const client1 = await runBerth(['apply', '-f', file, '--dry-run=client'], { config: server.configPath });
    assert.equal(client1.code, 0, client1.stderr);
    assert.deepEqual(await objectKeys(), before, 'no service, task, revision or rollout key written');
    assert.equal(await store.get('services/web'), undefined);

    const real = await runBerth(['apply', '-f', file], { config: server.configPath });
    assert.equal(real.code, 0, real.stderr);
    assert.ok((await objectKeys()).length > before.length, 'the real apply wrote the service');
    assert.ok(await store.get('services/web'));
  });
});
