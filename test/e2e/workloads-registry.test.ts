// Private registries, end to end: Debian's docker-registry with htpasswd authentication on
// 127.0.0.1 (plain HTTP: the Engine treats 127.0.0.0/8 registries as insecure), an image built
// here, pushed to it and removed from the engine. Without credentials the task is rejected with a
// message that says authentication and names the registry; after `berth registry login` the
// service runs. `registry ls` shows hosts and users only; the password is in no answer or log.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '../../control-plane/etcd/embedded.js';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, imageExists, removeContainersOfNodes } from '../helpers/docker.js';

const run = promisify(execFile);

describe('e2e workloads: images from a private registry with htpasswd authentication', function () {
  this.timeout(240_000);
  const suffix = randomBytes(3).toString('hex');
  const nodeName = `e2e-${suffix}-reg`;
  const user = `puller-${suffix}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let dir: string | undefined;
  let registry: ChildProcess | undefined;
  let registryLog = '';
  let host = '';
  let image = '';
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  /** The docker CLI with its own config dir: its login never touches the host's ~/.docker. */
  const dockerIsolated = (...args: string[]) => run('docker', args, { env: { ...process.env, DOCKER_CONFIG: path.join(dir!, 'docker-config') }, maxBuffer: 16 * 1024 * 1024 });

  before(async function () {
    this.timeout(180_000);
    await ensureTestImages();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-registry-'));
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    image = `${host}/berth-e2e/private:${suffix}`;
    writeFileSync(path.join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
    writeFileSync(
      path.join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${path.join(dir, 'storage')}`,
        'http:',
        `  addr: ${host}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
        'auth:',
        '  htpasswd:',
        '    realm: berth-e2e',
        `    path: ${path.join(dir, 'htpasswd')}`,
        '',
      ].join('\n'),
    );
    registry = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    registry.stdout!.on('data', (c: Buffer) => (registryLog += c.toString()));
    registry.stderr!.on('data', (c: Buffer) => (registryLog += c.toString()));
    await eventually(async () => {
      const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
      return res?.status === 401 ? true : undefined;
    }, 30_000, `the registry answering 401 on /v2/; it said:\n${registryLog}`);

    // An image built here, pushed with credentials, then removed from the engine.
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${BUSYBOX_IMAGE}\nRUN echo ${suffix} > /private-marker\n`);
    await run('docker', ['build', '-q', '-t', image, dir], { maxBuffer: 16 * 1024 * 1024 });
    // `docker login` reads the password from standard input (a shell pipe; never an argument).
    await run('sh', ['-c', `printf %s "$PW" | docker login ${host} -u ${user} --password-stdin`], { env: { ...process.env, PW: password, DOCKER_CONFIG: path.join(dir, 'docker-config') } });
    await dockerIsolated('push', image);
    await docker('rmi', image);
    assert.equal(await imageExists(image), false, 'the engine does not have the image any more');

    server = await startServer();
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '2', memory: '1Gi' });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    await runBerth(['delete', 'service', 'private'], { config: server?.configPath }).catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await removeContainersOfNodes([nodeName]);
    await server?.stop();
    if (image) await docker('rmi', '-f', image).catch(() => undefined);
    const alive = () => registry?.exitCode === null && registry.signalCode === null;
    if (registry?.pid && alive()) {
      const exited = new Promise((r) => registry!.once('exit', r));
      registry.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (alive()) registry.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without credentials the task is rejected, saying authentication and naming the registry', async () => {
    ok(
      await runBerth(['apply', '-f', '-'], {
        config: server!.configPath,
        input: serviceManifest('private', [`image: ${image}`, 'command: ["sleep", "3600"]', 'stopGracePeriodSeconds: 1', 'restartPolicy:', '  delaySeconds: 1'].join('\n')),
      }),
    );
    const rejected = (await eventually(async () => (await listTasks(server!, '--service', 'private')).find((t) => t.status.state === 'rejected'), 60_000, `a rejected task; agent said:\n${agent?.logTail()}`))!;
    assert.match(rejected.status.message ?? '', new RegExp(`registry ${host.replace(/\./g, '\\.')} refused to pull .*authentication required`));
    assert.match(rejected.status.message ?? '', new RegExp(`no credentials are stored for ${host.replace(/\./g, '\\.')}: run berth registry login`));
    const described = ok(await berth('describe', 'service', 'private')).stdout;
    assert.match(described, /rejected/);
  });

  it('after registry login the service runs; ls shows host and user, never the password', async () => {
    const login = await runBerth(['registry', 'login', host, '-u', user, '--password-stdin'], { config: server!.configPath, input: `${password}\n` });
    ok(login);
    assert.match(login.stdout, new RegExp(`registry/${host.replace(/\./g, '\\.')}: credentials of ${user} stored`));
    const runningTask = (await eventually(async () => {
      const tasks = await listTasks(server!, '--service', 'private');
      return tasks.find((t: Task) => t.status.state === 'running' && t.status.containerId);
    }, 120_000, `a running task after login; agent said:\n${agent?.logTail()}`))!;
    assert.equal((await docker('exec', runningTask.status.containerId!, 'cat', '/private-marker')).trim(), suffix);

    const listed = ok(await berth('registry', 'ls')).stdout;
    assert.match(listed, new RegExp(`${host.replace(/\./g, '\\.')}\\s+${user}`));
    for (const args of [['registry', 'ls', '-o', 'json'], ['get', 'tasks', '-o', 'json'], ['get', 'events', '-o', 'json'], ['describe', 'service', 'private']]) {
      const r = ok(await berth(...args));
      assert.ok(!(r.stdout + r.stderr).includes(password), `the password in berth ${args.join(' ')}`);
    }
    assert.ok(!agent!.logTail().includes(password), 'the password in the agent log');
    assert.ok(!server!.logTail().includes(password), 'the password in the server log');

    ok(await berth('delete', 'service', 'private'));
    assert.match(ok(await berth('registry', 'logout', host)).stdout, /credentials removed/);
    assert.doesNotMatch(ok(await berth('registry', 'ls')).stdout, new RegExp(host.replace(/\./g, '\\.')));
  });
});
