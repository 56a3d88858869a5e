// Jobs end to end: a real server and a docker agent run `spec.mode: job` services to completion.
// What a user sees: `apply --wait` returns when the run is complete (0) or failed (1), `get
// services` shows `N/M completed`, never more than `parallelism` containers run at once (from the
// containers' own start and finish times), a failing job stops after its attempts, logs of
// finished tasks can be read, and nothing of a completed job starts again after the agent
// restarts, nor after the server restarts (a new server planning from the store; the planner
// itself: test/unit/orchestrator-job.test.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, spawnBerth, startAgent, startServer, waitNodesReady, type BerthDaemon, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

const COUNTER = serviceManifest(
  'counter',
  `mode: job
completions: 3
parallelism: 2
image: ${BUSYBOX_IMAGE}
command: ["sh", "-c", "echo counted; sleep 2"]
stopGracePeriodSeconds: 1`,
);

const BROKEN = serviceManifest(
  'broken',
  `mode: job
image: ${BUSYBOX_IMAGE}
command: ["sh", "-c", "echo giving up; exit 3"]
restartPolicy:
  maxAttempts: 1
stopGracePeriodSeconds: 1`,
);

interface Span {
  start: number;
  end: number;
}

/** The most containers whose [start, end] intervals overlap at one time. */
function mostAtOnce(spans: readonly Span[]): number {
  const points = spans.flatMap((s) => [
    [s.start, 1],
    [s.end, -1],
  ]);
  points.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let now = 0;
  let most = 0;
  for (const [, d] of points) most = Math.max(most, (now += d!));
  return most;
}

describe('e2e: jobs run to completion', function () {
  this.timeout(300_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-job`;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  /** The server started again on its data dir and ports (the last test). */
  let restarted: BerthDaemon | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const input = (text: string, ...args: string[]) => runBerth(args, { config: server!.configPath, input: text });
  const join = (dataDir?: string) => {
    agent = startAgent(server!, { name: nodeName, runtime: 'docker', cpu: '4', memory: '2Gi', ...(dataDir ? { dataDir } : {}) });
    return agent;
  };

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    join();
    await waitNodesReady(server, [agent!]);
  });

  after(async () => {
    await agent?.stop().catch(() => undefined);
    await restarted?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
  });

  it('completions 3, parallelism 2: apply --wait returns when 3/3 completed, never more than 2 at once', async () => {
    const r = ok(await input(COUNTER, 'apply', '-f', '-', '--wait', '--timeout', '90s'));
    assert.match(r.stdout, /service\/counter created/);
    assert.match(r.stdout, /completed 3\/3/);
    const row = ok(await berth('get', 'services', 'counter')).stdout.split('\n')[1] ?? '';
    assert.match(row, /^counter +job +3\/3 completed /);

    const tasks = await listTasks(server!, '--service', 'counter');
    assert.deepEqual(tasks.map((t) => t.status.state).sort(), ['complete', 'complete', 'complete']);
    assert.deepEqual(tasks.map((t) => t.slot).sort(), [1, 2, 3]);
    const spans: Span[] = [];
    for (const t of tasks) {
      const state = JSON.parse(await docker('inspect', '--format', '{{json .State}}', t.status.containerId!)) as { StartedAt: string; FinishedAt: string };
      spans.push({ start: Date.parse(state.StartedAt), end: Date.parse(state.FinishedAt) });
    }
    assert.equal(mostAtOnce(spans), 2, `at most 2 containers at once (spans ${JSON.stringify(spans)})`);
  });

  it('the logs of finished tasks can be read', async () => {
    const out = ok(await berth('logs', 'service/counter')).stdout;
    assert.equal(out.split('\n').filter((l) => l.includes('counted')).length, 3, out);
  });

  it('a job that keeps failing ends failed after its attempts: apply --wait exits 1, 0/1 failed', async () => {
    const r = await input(BROKEN, 'apply', '-f', '-', '--wait', '--timeout', '90s');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const row = ok(await berth('get', 'services', 'broken')).stdout.split('\n')[1] ?? '';
    assert.match(row, /^broken +job +0\/1 failed /);
    const tasks = await listTasks(server!, '--service', 'broken');
    assert.equal(tasks.length, 2, 'the first attempt and one retry (maxAttempts: 1)');
    assert.ok(tasks.every((t) => t.status.state === 'failed' && t.status.exitCode === 3), JSON.stringify(tasks.map((t) => t.status)));
    assert.match(ok(await berth('describe', 'service', 'broken')).stdout, /0\/1 completed .* job failed/);
  });

  it('nothing of a completed or failed job starts again after the agent restarts', async () => {
    const before = new Map<string, Task>((await listTasks(server!)).map((t) => [t.id, t]));
    const containers = (await containersOfNode(nodeName)).sort();
    const dataDir = agent!.dataDir;
    await agent!.stop({ keepDataDir: true });
    join(dataDir);
    await waitNodesReady(server!, [agent!]);
    // A new service placed after the restart proves the agent has synced with the control plane.
    ok(await input(serviceManifest('marker', `mode: job\nimage: ${BUSYBOX_IMAGE}\ncommand: ["true"]`), 'apply', '-f', '-', '--wait', '--timeout', '60s'));
    const after = (await listTasks(server!)).filter((t) => t.serviceName !== 'marker');
    assert.deepEqual(after.map((t) => t.id).sort(), [...before.keys()].sort(), 'no task was added or removed');
    for (const t of after) assert.equal(t.status.state, before.get(t.id)!.status.state, `${t.name} kept its state`);
    const now = (await containersOfNode(nodeName, { running: true })).filter((id) => containers.includes(id));
    assert.deepEqual(now, [], 'no container of the finished jobs runs again');
    assert.equal((await containersOfNode(nodeName)).length, containers.length + 1, 'one new container: the marker\'s');
    const states = await eventually(async () => {
      const svc = JSON.parse(ok(await berth('get', 'services', '-o', 'json')).stdout) as { items: { metadata: { name: string }; status: { job?: string } }[] };
      const m = new Map(svc.items.map((s) => [s.metadata.name, s.status.job]));
      return m.get('counter') === 'complete' && m.get('broken') === 'failed' ? m : undefined;
    }, 20_000, 'job states after the restart');
    assert.ok(states);
  });

  it('nothing of a completed or failed job starts again after the server restarts', async () => {
    const srv = server!;
    const before = new Map<string, Task>((await listTasks(srv)).map((t) => [t.id, t]));
    const containers = (await containersOfNode(nodeName)).sort();
    await srv.stop('SIGTERM', { keepDataDir: true });
    restarted = spawnBerth([
      'server', '--no-agent',
      '--data-dir', srv.dataDir,
      '--listen', `127.0.0.1:${new URL(srv.url).port}`,
      '--agent-listen', `127.0.0.1:${srv.agentPort}`,
      '--heartbeat-grace', '30',
    ]);
    await eventually(async () => (await srv.fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.ok, 60_000, `the server back; it said:\n${restarted.stderr().slice(-2000)}`);
    await waitNodesReady(srv, [agent!]);
    // A new job placed after the restart proves the new server plans and the agent has synced with it.
    ok(await input(serviceManifest('marker2', `mode: job\nimage: ${BUSYBOX_IMAGE}\ncommand: ["true"]`), 'apply', '-f', '-', '--wait', '--timeout', '60s'));
    const after = (await listTasks(srv)).filter((t) => t.serviceName !== 'marker2');
    assert.deepEqual(after.map((t) => t.id).sort(), [...before.keys()].sort(), 'no task was added or removed');
    for (const t of after) assert.equal(t.status.state, before.get(t.id)!.status.state, `${t.name} kept its state`);
    const now = (await containersOfNode(nodeName, { running: true })).filter((id) => containers.includes(id));
    assert.deepEqual(now, [], 'no container of the finished jobs runs again');
    assert.equal((await containersOfNode(nodeName)).length, containers.length + 1, "one new container: the second marker's");
    const rows = ok(await berth('get', 'services')).stdout;
    assert.match(rows, /^counter +job +3\/3 completed /m);
    assert.match(rows, /^broken +job +0\/1 failed /m);
  });
});
