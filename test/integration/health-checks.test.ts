// Health checks end to end through the Worker over the real drivers: a task with a passing check
// is reported healthy; one whose check keeps failing is reported unhealthy, its instance stopped,
// and the task reported failed with reason Unhealthy.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HealthCheckSpec, ServiceSpec, TaskStatus } from '../../common/types.js';
import { DockerDriver } from '../../agent/driver/docker.js';
import type { Driver } from '../../agent/driver/driver.js';
import { ProcessDriver } from '../../agent/driver/process.js';
import { StatusReason } from '../../agent/worker/lifecycle.js';
import type { TaskStatusReport } from '../../common/task-status.js';
import { Worker } from '../../agent/worker/worker.js';
import { WEB_IMAGE, ensureTestImages, inspectContainer, makeTask, removeContainersOfNode, testNodeName } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

/** Fast probing, so verdicts come within a second or two. */
const FAST = { intervalSeconds: 0.2, timeoutSeconds: 1, failureThreshold: 2 } satisfies Partial<HealthCheckSpec>;

interface Harness {
  worker: Worker;
  reports: TaskStatusReport[];
}

function statusesOf(reports: TaskStatusReport[], taskId: string): TaskStatus[] {
  return reports.filter((r) => r.taskId === taskId).map((r) => r.status);
}

function lastOf(reports: TaskStatusReport[], taskId: string): TaskStatus | undefined {
  return statusesOf(reports, taskId).at(-1);
}

async function newHarness(driver: Driver, nodeName: string, dataDir: string, workers: Worker[]): Promise<Harness> {
  const worker = new Worker({ driver, nodeName, dataDir, logger: silentLogger });
  workers.push(worker);
  const reports: TaskStatusReport[] = [];
  worker.onStatus((r) => reports.push(r));
  await worker.start();
  return { worker, reports };
}

/** Runs one task and returns once it is reported healthy. */
async function expectHealthy(h: Harness, spec: Partial<ServiceSpec>): Promise<TaskStatus> {
  const t = makeTask(spec, { service: 'hc' });
  h.worker.setAssignments([t]);
  const st = await eventually(
    () => {
      const s = lastOf(h.reports, t.id);
      return s?.state === 'running' && s.health === 'healthy' ? s : undefined;
    },
    30_000,
    'healthy',
  );
  assert.ok(st);
  // Until the first verdict, the running task was `starting`.
  const firstRunning = statusesOf(h.reports, t.id).find((s) => s.state === 'running');
  assert.equal(firstRunning?.health, 'starting');
  assert.equal(st.lastProbe?.ok, true);
  // The worker's own view (what a reconnecting session resends) carries the health too.
  assert.equal(h.worker.statuses().find((s) => s.taskId === t.id)?.status.health, 'healthy');
  return st;
}

/** Runs one task and returns its final status once it has been reported failed. */
async function expectUnhealthy(h: Harness, spec: Partial<ServiceSpec>): Promise<TaskStatus> {
  const t = makeTask({ stopGracePeriodSeconds: 2, ...spec }, { service: 'hc' });
  h.worker.setAssignments([t]);
  const final = await eventually(
    () => {
      const s = lastOf(h.reports, t.id);
      return s?.state === 'failed' ? s : undefined;
    },
    30_000,
    'failed',
  );
  assert.ok(final);
  assert.equal(final.reason, StatusReason.Unhealthy);
  assert.equal(final.health, 'unhealthy');
  assert.match(final.message ?? '', /^health check failed 2 times: /);
  assert.equal(final.lastProbe?.ok, false);
  const healths = statusesOf(h.reports, t.id)
    .filter((s) => s.state === 'running')
    .map((s) => s.health);
  assert.equal(healths[0], 'starting');
  assert.equal(healths.at(-1), 'unhealthy', 'the verdict is reported while the instance is being stopped');
  return final;
}

describe('health checks over the docker driver', function () {
  this.timeout(90_000);
  let nodeName: string;
  let dataDir: string;
  const workers: Worker[] = [];

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
  });
  beforeEach(() => {
    nodeName = testNodeName('hc-docker');
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-health-'));
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    await removeContainersOfNode(nodeName);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const harness = (): Promise<Harness> => newHarness(new DockerDriver({ nodeName, logger: silentLogger }), nodeName, dataDir, workers);

  it('reports berth/web healthy over http on its unpublished container port', async () => {
    const h = await harness();
    const st = await expectHealthy(h, { image: WEB_IMAGE, healthCheck: { http: { port: 8080, path: '/health' }, ...FAST } });
    assert.match(st.lastProbe!.message, /^GET http:\/\/\d+\.\d+\.\d+\.\d+:8080\/health -> 200$/);
    assert.deepEqual(st.hostPorts ?? [], [], 'nothing was published');
  });

  it('stops a container whose http check keeps failing and reports the task failed, Unhealthy', async () => {
    const h = await harness();
    const final = await expectUnhealthy(h, { image: WEB_IMAGE, healthCheck: { http: { port: 8080, path: '/missing' }, ...FAST } });
    assert.match(final.message!, /GET http:\/\/[\d.]+:8080\/missing -> 404$/);
    const c = await inspectContainer(final.containerId!);
    assert.equal(c.State.Running, false, 'the container was stopped');
  });

  it('tcp: healthy when the port accepts connections, unhealthy when nothing listens', async () => {
    const h = await harness();
    const st = await expectHealthy(h, { image: WEB_IMAGE, healthCheck: { tcp: { port: 8080 }, ...FAST } });
    assert.match(st.lastProbe!.message, /^TCP [\d.]+:8080 -> connected$/);
    const final = await expectUnhealthy(h, { image: WEB_IMAGE, healthCheck: { tcp: { port: 9 }, ...FAST } });
    assert.match(final.message!, /TCP [\d.]+:9 -> ECONNREFUSED$/);
    assert.equal((await inspectContainer(final.containerId!)).State.Running, false);
  });

  it('exec: runs the command inside the container; exit 0 is healthy, anything else is not', async () => {
    const h = await harness();
    // /www/health exists only inside berth/web: the command really runs in the container.
    const st = await expectHealthy(h, { image: WEB_IMAGE, healthCheck: { exec: { command: ['cat', '/www/health'] }, ...FAST } });
    assert.equal(st.lastProbe!.message, 'exec ["cat","/www/health"] -> exit code 0: ok');
    const ok = await expectHealthy(h, { image: WEB_IMAGE, healthCheck: { exec: { command: ['true'] }, ...FAST } });
    assert.ok(ok.containerId);
    const final = await expectUnhealthy(h, {
      image: WEB_IMAGE,
      healthCheck: { exec: { command: ['sh', '-c', 'echo not ready; exit 1'] }, ...FAST },
    });
    assert.match(final.message!, /exec \["sh","-c","echo not ready; exit 1"\] -> exit code 1: not ready$/);
    assert.equal((await inspectContainer(final.containerId!)).State.Running, false);
  });

  it('exec: a command running past the timeout fails the probe', async () => {
    const h = await harness();
    const final = await expectUnhealthy(h, {
      image: WEB_IMAGE,
      healthCheck: { exec: { command: ['sleep', '30'] }, ...FAST, timeoutSeconds: 0.3 },
    });
    assert.match(final.message!, /-> command timed out after 0\.3s$/);
  });
});

describe('health checks over the process driver', function () {
  this.timeout(60_000);
  let nodeName: string;
  let dataDir: string;
  let www: string;
  const workers: Worker[] = [];

  beforeEach(() => {
    nodeName = testNodeName('hc-process');
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-health-'));
    www = mkdtempSync(path.join(tmpdir(), 'berth-www-'));
    writeFileSync(path.join(www, 'index.html'), 'hello\n');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
    const d = new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 });
    for (const i of await d.list()) await d.remove(i.id);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(www, { recursive: true, force: true });
  });

  const harness = (): Promise<Harness> =>
    newHarness(new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 }), nodeName, dataDir, workers);

  it('reports a busybox httpd host process healthy over http on 127.0.0.1', async () => {
    const port = await freePort();
    const h = await harness();
    const st = await expectHealthy(h, {
      command: ['busybox', 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', www],
      ports: [{ containerPort: port }],
      healthCheck: { http: { port }, ...FAST },
    });
    assert.equal(st.lastProbe!.message, `GET http://127.0.0.1:${port}/ -> 200`);
  });

  it('stops a process whose port never answers and reports it failed, Unhealthy', async () => {
    const port = await freePort();
    const h = await harness();
    const final = await expectUnhealthy(h, {
      command: ['sleep', '1000'],
      healthCheck: { http: { port }, ...FAST },
    });
    assert.match(final.message!, new RegExp(`GET http://127\\.0\\.0\\.1:${port}/ -> ECONNREFUSED$`));
    const inst = await new ProcessDriver({ nodeName, dataDir, logger: silentLogger }).inspect(final.containerId!);
    assert.equal(inst?.running, false, 'the process was stopped');
  });

  it('exec runs as a host process with the task environment', async () => {
    const h = await harness();
    await expectHealthy(h, {
      command: ['sleep', '1000'],
      env: { READY_FILE: path.join(www, 'index.html') },
      healthCheck: { exec: { command: ['sh', '-c', 'test -f "$READY_FILE"'] }, ...FAST },
    });
    await expectUnhealthy(h, {
      command: ['sleep', '1000'],
      env: { READY_FILE: path.join(www, 'absent') },
      healthCheck: { exec: { command: ['sh', '-c', 'test -f "$READY_FILE"'] }, ...FAST },
    });
  });
});

/** A loopback port free right now (the kernel picks it; closed before use). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
