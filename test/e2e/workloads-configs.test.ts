// Configs, end to end (real server, two docker agents): `berth config create` from a file, a
// service refused at apply while its config does not exist (nothing written), the file read in
// the container at its target (default /<name>) read-only with its mode, `config inspect` shows
// the value, `config rm` refused while in use, `config update` rolls the service and new tasks
// read the new value, and the node without a task using the config never receives it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

/** Every regular file under `dir`. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

describe('e2e workloads: configs are files a service mounts, updated with a rolling restart', function () {
  this.timeout(180_000);
  const suffix = randomBytes(3).toString('hex');
  const n1 = `e2e-${suffix}-cfg`;
  const n2 = `e2e-${suffix}-nocfg`;
  const conf = `app-conf-${suffix}`;
  const motd = `motd-${suffix}`;
  const v1 = `listen 8080\nmarker v1-${randomBytes(8).toString('hex')}\n`;
  const v2 = `listen 9090\nmarker v2-${randomBytes(8).toString('hex')}\n`;
  const motdValue = `hello-${randomBytes(8).toString('hex')}`;
  let server: TestServer | undefined;
  let a1: TestAgent | undefined;
  let a2: TestAgent | undefined;
  let dir: string | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const manifest = serviceManifest(
    'configured',
    [
      `image: ${BUSYBOX_IMAGE}`,
      'command: ["sleep", "3600"]',
      'stopGracePeriodSeconds: 1',
      'placement:',
      '  constraints: ["node.labels.role == app"]',
      'update:',
      '  monitorSeconds: 1',
      'configs:',
      `  - source: ${conf}`,
      '    target: /etc/app/app.conf',
      '    mode: "0440"',
      `  - source: ${motd}`,
    ].join('\n'),
  );
  const running = async (exclude: readonly string[] = []): Promise<Task> =>
    (await eventually(async () => {
      const tasks = await listTasks(server!, '--service', 'configured');
      return tasks.find((t) => t.status.state === 'running' && t.desiredState === 'running' && !exclude.includes(t.id) && t.status.containerId);
    }, 90_000, `a running task; agent said:\n${a1?.logTail()}`))!;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-configs-'));
    server = await startServer();
    a1 = startAgent(server, { name: n1, runtime: 'docker', labels: 'role=app', cpu: '2', memory: '1Gi' });
    a2 = startAgent(server, { name: n2, runtime: 'docker', labels: 'role=other', cpu: '2', memory: '1Gi' });
    await waitNodesReady(server, [a1, a2]);
  });

  after(async () => {
    await runBerth(['delete', 'service', 'configured'], { config: server?.configPath }).catch(() => undefined);
    await a1?.stop().catch(() => undefined);
    await a2?.stop().catch(() => undefined);
    await removeContainersOfNodes([n1, n2]);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at apply while it does not exist, nothing written; created from a file, it is read in the container', async () => {
    const early = await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: manifest });
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, new RegExp(`spec\\.configs\\[0\\]\\.source: config "${conf}" does not exist`));
    assert.match(early.stderr, new RegExp(`spec\\.configs\\[1\\]\\.source: config "${motd}" does not exist`));
    assert.equal((await berth('get', 'service', 'configured')).code !== 0, true, 'no service written');

    const file = path.join(dir!, 'app.conf');
    writeFileSync(file, v1);
    assert.match(ok(await berth('config', 'create', conf, '-f', file)).stdout, new RegExp(`config/${conf} created \\(${v1.length} bytes\\)`));
    ok(await runBerth(['config', 'create', motd, '-f', '-'], { config: server!.configPath, input: motdValue }));
    assert.match(ok(await berth('config', 'ls')).stdout, new RegExp(`${conf}\\s+${v1.length}B`));
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: manifest }));

    const c = (await running()).status.containerId!;
    assert.equal(await docker('exec', c, 'cat', '/etc/app/app.conf'), v1.trimEnd());
    assert.equal((await docker('exec', c, 'stat', '-c', '%a', '/etc/app/app.conf')).trim(), '440');
    assert.equal(await docker('exec', c, 'cat', `/${motd}`), motdValue, 'default target /<name>');
    assert.equal((await docker('exec', c, 'stat', '-c', '%a', `/${motd}`)).trim(), '444');
    const write = await docker('exec', c, 'sh', '-c', 'echo x > /etc/app/app.conf 2>&1; echo $?').catch((e: Error) => e.message);
    assert.doesNotMatch(write.trim(), /^0$/, 'the config file is read-only in the container');
    assert.match(ok(await berth('describe', 'service', 'configured')).stdout, new RegExp(`${conf} -> /etc/app/app.conf \\(mode 0440\\)`));
  });

  it('inspect shows the value; the node without a task using it never receives it', async () => {
    assert.equal(ok(await berth('config', 'inspect', conf)).stdout.trimEnd(), v1.trimEnd());
    const asJson = JSON.parse(ok(await berth('config', 'inspect', conf, '-o', 'json')).stdout) as { name: string; value: string };
    assert.equal(Buffer.from(asJson.value, 'base64').toString('utf8'), v1);
    for (const f of filesUnder(a2!.dataDir)) assert.ok(!readFileSync(f, 'utf8').includes(motdValue), `${f} of the other node`);
    assert.doesNotMatch(a2!.logTail(), /task files written/);
  });

  it('rm is refused while in use; update rolls the service and the new task reads the new value', async () => {
    const refused = await berth('config', 'rm', conf);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /config "[^"]+" is used by service configured/);
    const old = await running();
    const updated = ok(await runBerth(['config', 'update', conf, '-f', '-'], { config: server!.configPath, input: v2 }));
    assert.match(updated.stdout, new RegExp(`config/${conf} updated \\(${v2.length} bytes\\); rolling service/configured`));
    const fresh = await running([old.id]);
    assert.equal(await docker('exec', fresh.status.containerId!, 'cat', '/etc/app/app.conf'), v2.trimEnd());
    assert.match(ok(await berth('rollout', 'history', 'service', 'configured')).stdout, new RegExp(`config ${conf} updated`));
    ok(await berth('delete', 'service', 'configured'));
    await eventually(async () => ((await listTasks(server!, '--service', 'configured')).length === 0 ? true : undefined), 60_000, 'the service gone');
    ok(await berth('config', 'rm', conf));
    ok(await berth('config', 'rm', motd));
    assert.equal(ok(await berth('config', 'ls', '-o', 'json')).stdout.includes(conf), false);
  });
});
