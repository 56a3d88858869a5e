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

  const manifest = (replicas: number) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  image: berth/web:latest\n  replicas: ${replicas}\n`;

  it('apply --dry-run=server and --dry-run=client change no key; a real apply does', async () => {
    const file = path.join(dir, 'web.yaml');
    writeFileSync(file, manifest(2));
    const before = await store.count();
    const revision = await store.revision();

    const server1 = await runBerth(['apply', '-f', file, '--dry-run=server'], { config: server.configPath });
    assert.equal(server1.code, 0, server1.stderr);
    assert.match(server1.stdout, /service\/web created \(server dry run\)/);
    const client1 = await runBerth(['apply', '-f', file, '--dry-run=client'], { config: server.configPath });
    assert.equal(client1.code, 0, client1.stderr);
    assert.equal(await store.count(), before, 'same number of keys');
    assert.equal(await store.revision(), revision, 'etcd revision unchanged: nothing was written at all');

    const real = await runBerth(['apply', '-f', file], { config: server.configPath });
    assert.equal(real.code, 0, real.stderr);
    assert.ok((await store.count()) > before, 'the real apply wrote the service');
  });
});
