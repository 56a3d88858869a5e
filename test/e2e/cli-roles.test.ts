// API tokens with roles from the command line, against a real `berth server` (its API on its own
// thread): `berth token create` prints only the token, a viewer reads but cannot apply, a
// revoked token is refused, and the audit log names who did what, with no token anywhere.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/etcd.js';
import { ok, runBerth, spawnBerth, startServer, type BerthDaemon, type TestServer } from '../helpers/berth.js';

const SERVICE = ['apiVersion: berth/v1', 'kind: Service', 'metadata:', '  name: web', 'spec:', '  image: berth/busybox:latest', '  replicas: 2', ''].join('\n');

describe('e2e: API tokens with roles and the audit log', function () {
  this.timeout(120_000);
  let server: TestServer;
  let dir: string;
  let logDir: string;
  let follower: BerthDaemon | undefined;
  const tokens: string[] = [];
  const admin = (...args: string[]) => runBerth(args, { config: server.configPath });
  const as = (token: string, ...args: string[]) => runBerth([...args, '--server', server.url, '--token', token, '--certificate-authority', path.join(server.dataDir, 'ca.crt')]);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-roles-e2e-'));
    logDir = mkdtempSync(path.join(tmpdir(), 'berth-roles-log-'));
    writeFileSync(path.join(dir, 'web.yaml'), SERVICE);
    // The server's whole output goes to a file, to look for tokens in it.
    const saved = process.env.BERTH_TEST_LOG_DIR;
    process.env.BERTH_TEST_LOG_DIR = logDir;
    try {
      server = await startServer({ env: { BERTH_LOG_LEVEL: 'debug' } });
    } finally {
      if (saved === undefined) delete process.env.BERTH_TEST_LOG_DIR;
      else process.env.BERTH_TEST_LOG_DIR = saved;
    }
  });

  after(async () => {
    await follower?.stop('SIGKILL');
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
  });

  it('a viewer token reads, is refused apply with the 403 message, and is refused once revoked', async () => {
    const created = ok(await admin('token', 'create', 'ci', '--role', 'viewer'));
    assert.match(created.stdout, /^berth-api-[A-Za-z0-9_-]+\n$/, 'only the token on stdout');
    assert.match(created.stderr, /token\/ci created \(role viewer, never expires\)/);
    const token = created.stdout.trim();
    tokens.push(token);

    ok(await as(token, 'get', 'services'));
    const apply = await as(token, 'apply', '-f', path.join(dir, 'web.yaml'));
    assert.equal(apply.code, 4, apply.stderr);
    assert.match(apply.stderr, /role viewer lacks permission services:write/);
    const audit = await as(token, 'get', 'audit');
    assert.equal(audit.code, 4);
    assert.match(audit.stderr, /role viewer lacks permission audit:read/);

    const list = ok(await admin('token', 'list'));
    assert.match(list.stdout, /^NAME +ROLE +CREATED +EXPIRES +LAST USED\n/);
    assert.match(list.stdout, /\nadmin \(built-in\) +admin +/);
    assert.match(list.stdout, /\nci +viewer +\d+s ago +never +\d+s ago/);
    assert.ok(!list.stdout.includes(token));
    const json = JSON.parse(ok(await admin('token', 'list', '-o', 'json')).stdout) as { items: { name: string }[] };
    assert.deepEqual(json.items.map((i) => i.name), ['admin', 'ci']);

    assert.equal(ok(await admin('token', 'revoke', 'ci')).stdout, 'token/ci revoked\n');
    const after = await as(token, 'get', 'services');
    assert.equal(after.code, 4);
    assert.match(after.stderr, /unauthorized by .*: the token from --token was rejected/);
    const again = await admin('token', 'revoke', 'admin');
    assert.equal(again.code, 6);
    assert.match(again.stderr, /built-in admin token cannot be revoked/);
  });

  it('an operator applies and reads the audit log, which names each call; get audit -w follows', async () => {
    const token = ok(await admin('token', 'create', 'deployer', '--role', 'operator', '--ttl', '1h')).stdout.trim();
    tokens.push(token);
    follower = spawnBerth(['--config', server.configPath, 'get', 'audit', '-w']);
    ok(await as(token, 'apply', '-f', path.join(dir, 'web.yaml')));
    ok(await as(token, 'scale', 'service', 'web', '--replicas', '3'));
    const refused = await as(token, 'node', 'drain', 'nowhere');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /role operator lacks permission nodes:write/);

    const rows = (await eventually(async () => {
      const r = ok(await as(token, 'get', 'audit'));
      return r.stdout.includes('POST /v1/nodes/:ref/availability') ? r.stdout : undefined;
    }, 10_000, 'audit entries'))!;
    assert.match(rows, /^TIME +TOKEN +ROLE +SOURCE +VERB +OBJECT +RESULT\n/);
    assert.match(rows, /\n\S+ +deployer +operator +127\.0\.0\.1 +POST \/v1\/apply +service\/web +200\n/);
    assert.match(rows, /\n\S+ +deployer +operator +127\.0\.0\.1 +POST \/v1\/services\/:name\/scale +service\/web +200\n/);
    assert.match(rows, /\n\S+ +deployer +operator +127\.0\.0\.1 +POST \/v1\/nodes\/:ref\/availability +node\/nowhere +refused/);
    assert.match(rows, /\n\S+ +ci +viewer +127\.0\.0\.1 +POST \/v1\/apply +<none> +refused/);
    assert.match(rows, /\n\S+ +admin +admin +127\.0\.0\.1 +DELETE \/v1\/tokens\/:name +token\/ci +200/);
    const entries = JSON.parse(ok(await as(token, 'get', 'audit', '-o', 'json')).stdout) as { items: { verb: string; changed?: Record<string, string[]> }[] };
    const applied = entries.items.find((e) => e.verb === 'POST /v1/apply' && e.changed);
    assert.deepEqual(applied?.changed, { 'service/web': ['spec.image', 'spec.replicas'] });

    // The follower started before these calls and prints them as they are stored.
    await eventually(() => follower!.stdout().includes('POST /v1/services/:name/scale'), 10_000, 'get audit -w to print the scale');
    await follower.stop('SIGINT');
    follower = undefined;
  });

  it('no token appears in the server log or the audit log', async () => {
    const audit = ok(await admin('get', 'audit', '-o', 'json')).stdout;
    const logs = readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('');
    assert.ok(logs.includes('API token created'), 'the server log was captured');
    for (const token of [...tokens, server.token]) {
      assert.ok(!logs.includes(token), 'a token in the server log');
      assert.ok(!audit.includes(token), 'a token in the audit log');
    }
  });
});
