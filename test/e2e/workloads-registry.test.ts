// Private registries, end to end: Debian's docker-registry with htpasswd authentication on
// 127.0.0.1 (plain HTTP: the Engine treats 127.0.0.0/8 registries as insecure), an image built
// here, pushed to it and removed from the engine. Without credentials the task is rejected with a
// message that says authentication and names the registry; after `berth registry login` the
// service runs. `registry ls` shows hosts and users only; the password is in no answer or log.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, imageExists, removeContainersOfNodes } from '../helpers/docker.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

describe('e2e workloads: images from a private registry with htpasswd authentication', function () {
  this.timeout(240_000);
  const suffix = randomBytes(3).toString('hex');
  const nodeName = `e2e-${suffix}-reg`;
  const user = `puller-${suffix}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  /** The image as built here, before it is tagged for the registry. */
  const local = `berth-e2e/private:${suffix}`;
  let dir: string | undefined;
  let registry: TestRegistry | undefined;
  let host = '';
  let image = '';
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });

  before(async function () {
    this.timeout(180_000);
    await ensureTestImages();
    registry = await startTestRegistry({ auth: { user, password } });
    host = registry.address;
    // An image built here, pushed with credentials, then removed from the engine.
    dir = mkdtempSync(path.join(tmpdir(), 'berth-registry-image-'));
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${BUSYBOX_IMAGE}\nRUN echo ${suffix} > /private-marker\n`);
    await docker('build', '-q', '-t', local, dir);
    image = await registry.push(local, `berth-e2e/private:${suffix}`);
    await docker('rmi', local, image);
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
    await registry?.stop();
    await docker('rmi', '-f', local).catch(() => undefined);
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
