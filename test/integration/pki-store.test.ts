// The PKI's state in etcd: join tokens (rotation, a token that does not name the CA replaced at
// start-up) and revoked nodes (expired entries swept).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseJoinToken } from '../../common/pki/join-token.js';
import { ClusterTokens, rotateJoinToken } from '../../control-plane/auth/tokens.js';
import { revocationKey, revokeOp, RevokedNodes } from '../../control-plane/pki/revocations.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const DIGEST_A = 'a'.repeat(64);
const DIGEST_B = 'b'.repeat(64);

describe('PKI state in etcd (real etcd)', function () {
  this.timeout(30_000);
  let t: TestEtcd;
  let store: Store;
  let dir: string;

  before(async () => {
    t = await startTestEtcd();
  });
  beforeEach(() => {
    store = t.newStore();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-pki-store-'));
  });
  afterEach(async () => {
    await store.deletePrefix('');
    rmSync(dir, { recursive: true, force: true });
  });
  after(async () => t?.stop());

  it('makes join and manager tokens naming the CA; a rotation refuses the old join token at once', async () => {
    const tokens = await ClusterTokens.ensure(store, dir, silentLogger, DIGEST_A);
    const join = tokens.joinToken!;
    assert.equal(parseJoinToken(join)?.caDigest, DIGEST_A);
    const manager = readFileSync(path.join(dir, 'manager-token'), 'utf8').trim();
    assert.equal(parseJoinToken(manager)?.caDigest, DIGEST_A);
    assert.equal(statSync(path.join(dir, 'manager-token')).mode & 0o777, 0o600);
    assert.equal(JSON.stringify(await store.get('cluster/tokens')).includes(join), false, 'etcd keeps hashes only');
    assert.equal(await tokens.verifyJoin(join), true);

    const rotated = await rotateJoinToken(store, dir, DIGEST_A);
    assert.notEqual(rotated, join);
    assert.equal(await tokens.verifyJoin(join), false, 'the old token is refused');
    assert.equal(await tokens.verifyJoin(rotated), true);
    assert.equal(readFileSync(path.join(dir, 'join-token'), 'utf8').trim(), rotated);
  });

  it('replaces, at start-up, a join token that does not name the CA', async () => {
    const first = await ClusterTokens.ensure(store, dir, silentLogger, DIGEST_A);
    const again = await ClusterTokens.ensure(store, dir, silentLogger, DIGEST_B);
    assert.equal(parseJoinToken(again.joinToken!)?.caDigest, DIGEST_B);
    assert.equal(await again.verifyJoin(first.joinToken), false);
    assert.equal(await again.verifyJoin(again.joinToken), true);
    assert.equal(again.adminToken, first.adminToken, 'the admin token is kept');
  });

  it('sweeps revocations no certificate can need any more', async () => {
    const old = revokeOp({ id: 'gone-long-ago', name: 'n1' }, new Date(Date.now() - 40 * 86_400_000));
    const recent = revokeOp({ id: 'gone-now', name: 'n2' });
    await store.txn([old, recent]);
    const revoked = new RevokedNodes(store, silentLogger);
    await revoked.start();
    try {
      assert.ok(revoked.has('gone-long-ago') && revoked.has('gone-now'));
      assert.equal(await revoked.sweep(), 1);
      assert.equal(await store.get(revocationKey('gone-long-ago')), undefined);
      await eventually(() => !revoked.has('gone-long-ago'), 5000, 'the informer sees the deletion');
      assert.ok(revoked.has('gone-now'));
    } finally {
      await revoked.stop();
    }
  });
});
