// depends_on as a start gate, end to end: a compose file whose api waits for its store to be
// healthy (service_healthy) and for a one-off migration job to complete
// (service_completed_successfully). The api's task stays pending, saying what it waits for, and
// gets no container while the store is unhealthy; once the store's health check passes (the test
// makes it pass) and the job is done, the api starts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

const compose = `
services:
  store:
    image: ${BUSYBOX_IMAGE}
    command: sleep 600
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 1
      start_period: 120s
  migrate:
    image: ${BUSYBOX_IMAGE}
    command: sh -c 'echo migrated'
    deploy:
      mode: replicated-job
  api:
    image: ${BUSYBOX_IMAGE}
    command: sleep 600
    stop_grace_period: 1s
    depends_on:
      store:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
`;

describe('e2e: depends_on holds a service back until its dependencies are ready', function () {
  this.timeout(240_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-deps`;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-deps-'));
  const file = path.join(dir, 'compose.yaml');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const tasksOf = async (service: string): Promise<Task[]> =>
    (await listTasks(server!, '--service', service)).filter((t) => t.desiredState === 'running');

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    writeFileSync(file, compose);
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '4', memory: '2Gi' });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    if (server) await berth('stack', 'rm', 'deps').catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the api waits, pending with its reason, until the store is healthy and the job complete', async () => {
    ok(await berth('stack', 'deploy', '-c', file, 'deps'));
    // The job completes and the store runs, but its health check fails until /tmp/ready exists
    // (within its start period, so the failures do not get it replaced).
    await eventually(async () => ((await tasksOf('deps-migrate')).some((t) => t.status.state === 'complete') ? true : undefined), 90_000, 'the migration job complete');
    const store = (await eventually(async () => (await tasksOf('deps-store')).find((t) => t.status.state === 'running' && t.status.containerId), 90_000, 'the store running'))!;
    const waiting = (await eventually(async () => {
      const [t] = await tasksOf('deps-api');
      return t?.status.reason === 'WaitingForDependency' && /deps-store to be healthy/.test(t.status.message ?? '') ? t : undefined;
    }, 30_000, 'the api waiting for the store'))!;
    assert.equal(waiting.status.state, 'pending');
    assert.doesNotMatch(waiting.status.message ?? '', /deps-migrate/, 'the completed job no longer holds it back');

    // What a user sees: get tasks and describe say why.
    const table = ok(await berth('get', 'tasks', '--service', 'deps-api')).stdout;
    assert.match(table, /pending +0 +\S+ +waiting for service deps-store to be healthy \(1 running, 0 healthy\)/);
    const described = ok(await berth('describe', 'task', waiting.name)).stdout;
    assert.match(described, /Reason: +WaitingForDependency/);

    // Held, not just slow: a few health checks later it is still pending, with no container.
    await new Promise((r) => setTimeout(r, 4000));
    const still = await tasksOf('deps-api');
    assert.deepEqual(still.map((t) => [t.id, t.status.state]), [[waiting.id, 'pending']]);
    assert.equal((await docker('ps', '-aq', '--filter', `label=berth.node=${nodeName}`, '--filter', 'label=berth.service=deps-api')).trim(), '');

    await docker('exec', store.status.containerId!, 'touch', '/tmp/ready');
    const api = (await eventually(async () => (await tasksOf('deps-api')).find((t) => t.status.state === 'running'), 60_000, 'the api running'))!;
    assert.equal(api.id, waiting.id, 'the same task, started once its dependencies were met');
    const [storeNow] = (await tasksOf('deps-store')).filter((t) => t.status.state === 'running');
    assert.equal(storeNow?.status.health, 'healthy');
  });

  it('stack rm leaves no container', async () => {
    ok(await berth('stack', 'rm', 'deps'));
    await eventually(async () => ((await containersOfNode(nodeName)).length === 0 ? true : undefined), 60_000, 'no container left');
  });
});
