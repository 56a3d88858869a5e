// Secrets, end to end (real etcd read directly, real server, two docker agents): a secret is a
// file in the container at /run/secrets/NAME (or its target) with its mode; its value is nowhere
// in etcd's keys or values, the API, `get -o yaml`, events or any process's log; the node without
// a task using it never receives it; `secret update` rolls the service and new tasks read the
// new value; `secret rm` is refused while a service uses it; nothing stays mounted afterwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { Task } from '../../common/types.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

/** Every regular file under `dir` (sockets, fifos and unreadable files skipped). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

function mountedUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir));
}

describe('e2e workloads: secrets reach only the tasks that use them, never a log, an answer or etcd in plain text', function () {
  this.timeout(180_000);
  const suffix = randomBytes(3).toString('hex');
  const n1 = `e2e-${suffix}-app`;
  const n2 = `e2e-${suffix}-other`;
  const secret = `db-pass-${suffix}`;
  const token = `tok-${suffix}`;
  const v1 = `v1-${randomBytes(12).toString('hex')}`;
  const v2 = `v2-${randomBytes(12).toString('hex')}`;
  const tokenValue = `t-${randomBytes(12).toString('hex')}`;
  const values = [v1, v2, tokenValue];
  let etcd: TestEtcd | undefined;
  let server: TestServer | undefined;
  let a1: TestAgent | undefined;
  let a2: TestAgent | undefined;
  let logDir: string | undefined;
  let ownLogDir = false;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const manifest = serviceManifest(
    'reader',
    [
      `image: ${BUSYBOX_IMAGE}`,
      'command: ["sleep", "3600"]',
      'stopGracePeriodSeconds: 1',
      'placement:',
      '  constraints: ["node.labels.role == app"]',
      'update:',
      '  monitorSeconds: 1',
      'secrets:',
      `  - source: ${secret}`,
      '    mode: "0440"',
      `  - source: ${token}`,
      '    target: /etc/app/token',
    ].join('\n'),
  );
  const running = async (exclude: readonly string[] = []): Promise<Task> =>
    (await eventually(async () => {
      const tasks = await listTasks(server!, '--service', 'reader');
      return tasks.find((t) => t.status.state === 'running' && t.desiredState === 'running' && !exclude.includes(t.id) && t.status.containerId);
    }, 90_000, `a running reader task; agent said:\n${a1?.logTail()}`))!;
  const assertNoValue = (text: string, where: string) => {
    for (const v of values) assert.ok(!text.includes(v) && !text.includes(Buffer.from(v).toString('base64')), `a secret value in ${where}`);
  };

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    if (!process.env.BERTH_TEST_LOG_DIR) {
      logDir = mkdtempSync(path.join(tmpdir(), 'berth-secrets-logs-'));
      process.env.BERTH_TEST_LOG_DIR = logDir;
      ownLogDir = true;
    } else {
      logDir = process.env.BERTH_TEST_LOG_DIR;
    }
    etcd = await startTestEtcd();
    server = await startServer({ extraArgs: ['--etcd', etcd.endpoints.join(',')], env: { BERTH_LOG_LEVEL: 'debug' } });
    a1 = startAgent(server, { name: n1, runtime: 'docker', labels: 'role=app', cpu: '2', memory: '1Gi' });
    a2 = startAgent(server, { name: n2, runtime: 'docker', labels: 'role=other', cpu: '2', memory: '1Gi' });
    await waitNodesReady(server, [a1, a2]);
  });

  after(async () => {
    await runBerth(['delete', 'service', 'reader'], { config: server?.configPath }).catch(() => undefined);
    const dirs = [a1?.dataDir, a2?.dataDir].filter((d): d is string => !!d);
    await a1?.stop({ keepDataDir: true }).catch(() => undefined);
    await a2?.stop({ keepDataDir: true }).catch(() => undefined);
    await removeContainersOfNodes([n1, n2]);
    // Whatever a failed run left mounted is unmounted before its dir goes.
    for (const d of dirs) for (const m of mountedUnder(d)) execFileSync('umount', [m]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await server?.stop();
    await etcd?.stop();
    if (ownLogDir) {
      delete process.env.BERTH_TEST_LOG_DIR;
      rmSync(logDir!, { recursive: true, force: true });
    }
  });

  it('is created from stdin, refused to a service before it exists, and read in the container with its mode', async () => {
    const early = await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: manifest });
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, new RegExp(`spec\\.secrets\\[0\\]\\.source: secret "${secret}" does not exist`));

    const created = ok(await runBerth(['secret', 'create', secret, '-f', '-'], { config: server!.configPath, input: v1 }));
    assert.match(created.stdout, new RegExp(`secret/${secret} created \\(${v1.length} bytes\\)`));
    ok(await runBerth(['secret', 'create', token, '-f', '-'], { config: server!.configPath, input: tokenValue }));
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: manifest }));

    const task = await running();
    const c = task.status.containerId!;
    assert.equal(await docker('exec', c, 'cat', `/run/secrets/${secret}`), v1);
    assert.equal((await docker('exec', c, 'stat', '-c', '%a', `/run/secrets/${secret}`)).trim(), '440');
    assert.equal(await docker('exec', c, 'cat', '/etc/app/token'), tokenValue);
    assert.equal((await docker('exec', c, 'stat', '-c', '%a', '/etc/app/token')).trim(), '400');
    const write = await docker('exec', c, 'sh', '-c', `echo x > /run/secrets/${secret} 2>&1; echo $?`).catch((e: Error) => e.message);
    assert.doesNotMatch(write.trim(), /^0$/, 'the secret file is read-only in the container');
    // On the node: a tmpfs under the agent's data dir, nothing of it on the other node.
    assert.deepEqual(mountedUnder(a1!.dataDir), [path.join(a1!.dataDir, 'secrets')]);
    assert.deepEqual(mountedUnder(a2!.dataDir), []);
  });

  it('its value is nowhere in etcd, the API, get -o yaml, describe, events or the other node', async () => {
    const client = new Etcd3({ hosts: etcd!.endpoints });
    try {
      const all = await client.getAll().buffers();
      assert.ok(Object.keys(all).some((k) => k.includes(`secrets/${secret}`)), 'the secret is stored');
      for (const [k, v] of Object.entries(all)) assertNoValue(`${k}\n${v.toString('utf8')}`, `etcd key ${k}`);
    } finally {
      client.close();
    }
    for (const args of [['secret', 'ls'], ['secret', 'ls', '-o', 'yaml'], ['get', 'service', 'reader', '-o', 'yaml'], ['get', 'tasks', '-o', 'json'], ['describe', 'service', 'reader'], ['get', 'events', '-o', 'json'], ['get', 'nodes', '-o', 'yaml']]) {
      const r = ok(await berth(...args));
      assertNoValue(r.stdout + r.stderr, `berth ${args.join(' ')}`);
    }
    const listed = ok(await berth('secret', 'ls')).stdout;
    assert.match(listed, new RegExp(`${secret}\\s+${v1.length}B`));
    const res = await server!.fetch(`${server!.url}/v1/secrets/${secret}`, { headers: { authorization: `Bearer ${server!.token}` } });
    assert.equal(res.status, 200);
    const body = await res.text();
    assertNoValue(body, 'GET /v1/secrets/NAME');
    assert.deepEqual(Object.keys(JSON.parse(body) as object).sort(), ['createdAt', 'name', 'size', 'updatedAt', 'version']);
    for (const f of filesUnder(a2!.dataDir)) assertNoValue(readFileSync(f).toString('utf8'), `${f} of the other node`);
    assert.doesNotMatch(a2!.logTail(), /task files written/);
  });

  it('secret update rolls the service: the new task reads the new value, the old task leaves nothing behind', async () => {
    const old = await running();
    const updated = ok(await runBerth(['secret', 'update', secret, '-f', '-'], { config: server!.configPath, input: v2 }));
    assert.match(updated.stdout, new RegExp(`secret/${secret} updated \\(${v2.length} bytes\\); rolling service/reader`));
    const fresh = await running([old.id]);
    assert.equal(await docker('exec', fresh.status.containerId!, 'cat', `/run/secrets/${secret}`), v2);
    await eventually(() => (!existsSync(path.join(a1!.dataDir, 'secrets', old.id)) ? true : undefined), 30_000, "the old task's secret files removed");
    assert.ok(existsSync(path.join(a1!.dataDir, 'secrets', fresh.id, secret)));
    const st = statSync(path.join(a1!.dataDir, 'secrets', fresh.id));
    assert.equal(st.mode & 0o777, 0o700);
  });

  it('rm is refused while the service uses it; after the service is gone nothing of it stays on the node', async () => {
    const refused = await berth('secret', 'rm', secret);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /used by service reader/);
    ok(await berth('delete', 'service', 'reader'));
    await eventually(async () => ((await listTasks(server!, '--service', 'reader')).length === 0 ? true : undefined), 60_000, 'the service gone');
    await eventually(() => (readdirSync(path.join(a1!.dataDir, 'secrets')).length === 0 ? true : undefined), 30_000, 'no secret file left');
    ok(await berth('secret', 'rm', secret));
    ok(await berth('secret', 'rm', token));
    await a1!.stop({ keepDataDir: true });
    assert.deepEqual(mountedUnder(a1!.dataDir), [], 'the tmpfs unmounted once no task uses it');
    // Every process's whole log (server and both agents): no value.
    for (const f of filesUnder(logDir!)) assertNoValue(readFileSync(f, 'utf8'), `log ${f}`);
  });
});
