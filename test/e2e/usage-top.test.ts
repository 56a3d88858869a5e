// Resource usage end to end, on real Docker: a container that burns CPU and one that holds 56 MiB
// (a file in its /dev/shm tmpfs, which counts against its memory) show plausible figures in
// `berth top tasks` and `berth top nodes` (the agent's Engine stats, sent over its session, served
// by the API), and on the agent's own `--metrics-listen` endpoint, which a real Prometheus scrapes.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../control-plane/etcd/embedded.js';
import type { NodeUsage, TaskUsage, UsageList } from '../../common/usage.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { exitOf, keepLogTail, listTasks, ok, runBerth, startAgent, startServer, stopChild, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';
import { sleep } from '../../common/sleep.js';

const PROMETHEUS = '/usr/bin/prometheus';

/** `eventually` for a value that is undefined until the condition holds. */
async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  return (await eventually(fn, timeoutMs, what)) as T;
}
const MiB = 1024 * 1024;

describe('e2e: berth top and the agent\'s metrics (real Docker)', function () {
  this.timeout(300_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-top`;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let prom: ChildProcess | undefined;
  let promExited: Promise<void> | undefined;
  let promLog: () => string = () => '';
  let promUrl = '';
  let metricsUrl = '';
  let dir = '';
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });

  before(async function () {
    await ensureTestImages();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-top-'));
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '2', memory: '2Gi', extraArgs: ['--metrics-listen', `127.0.0.1:${metricsPort}`] });
    await waitNodesReady(server, [agent]);
    const burn = serviceManifest('burn', [`image: ${BUSYBOX_IMAGE}`, `command: ["sh", "-c", "while :; do :; done"]`, 'replicas: 1', 'stopGracePeriodSeconds: 1', 'resources:', '  cpu: 1500m'].join('\n'));
    const hog = serviceManifest(
      'hog',
      [`image: ${BUSYBOX_IMAGE}`, `command: ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=56 2>/dev/null; sleep 3600"]`, 'replicas: 1', 'stopGracePeriodSeconds: 1', 'resources:', '  memory: 128Mi'].join('\n'),
    );
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: `${burn}---\n${hog}` }));
  });

  after(async () => {
    if (prom && promExited) await stopChild(prom, promExited, 'SIGTERM');
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const tasksUsage = async (...filter: string[]): Promise<TaskUsage[]> => (JSON.parse(ok(await berth('top', 'tasks', ...filter, '-o', 'json')).stdout) as UsageList<TaskUsage>).items;

  it('berth top tasks: the burning task uses over 0.3 cores, the other over 40 MiB, against what they request', async () => {
    // CPU is shared with whatever else the machine runs: wait for a sample above 300m; on a machine
    // too busy to give the loop that much, berth's best figure must match the Engine's own.
    const [running] = (await listTasks(server!, '--service', 'burn')).filter((t) => t.status.state === 'running');
    const containerId = running!.status.containerId!;
    let best: TaskUsage | undefined;
    let engineBest = 0;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(best && best.cpu > 300)) {
      const [t] = await tasksUsage('--service', 'burn');
      if (t && (!best || t.cpu > best.cpu)) best = t;
      const engine = parseFloat(await docker('stats', '--no-stream', '--format', '{{.CPUPerc}}', containerId)) * 10;
      if (engine > engineBest) engineBest = engine;
      await sleep(2000);
    }
    assert.ok(best, 'burn reported usage');
    if (best.cpu <= 300) {
      assert.ok(best.cpu > 50 && best.cpu >= engineBest / 2, `burn's best CPU figure ${best.cpu}m against docker stats' best ${engineBest}m on a busy machine`);
    }
    const burn = best;
    assert.equal(burn.service, 'burn');
    assert.equal(burn.node, nodeName);
    assert.equal(burn.requested.cpu, 1500);
    const hog = await until(async () => {
      const [t] = await tasksUsage('--service', 'hog');
      return t && t.memory > 40 * MiB ? t : undefined;
    }, 60_000, 'a usage sample of hog above 40 MiB');
    assert.ok(hog.memory < 200 * MiB, `hog's memory is plausible: ${hog.memory}`);
    assert.equal(hog.requested.memory, 128 * MiB);

    const all = await tasksUsage();
    assert.deepEqual(all.map((t) => t.service).sort(), ['burn', 'hog']);
    const table = ok(await berth('top', 'tasks')).stdout;
    assert.match(table, /^NAME\s+SERVICE\s+NODE\s+CPU\(cores\)\s+CPU REQUESTED\s+MEMORY\(bytes\)\s+MEMORY REQUESTED/);
    assert.match(table, new RegExp(`^burn\\.1\\.\\S+\\s+burn\\s+${nodeName}\\s+\\d+m?\\s+1500m \\(\\d+%\\)`, 'm'));
    assert.match(table, new RegExp(`^hog\\.1\\.\\S+\\s+hog\\s+${nodeName}\\s+\\S+\\s+<none>\\s+\\d+(\\.\\d)?Mi\\s+128Mi \\(\\d+%\\)`, 'm'));
  });

  it('berth top nodes: the node\'s sum against its allocatable, for a viewer token too', async () => {
    const node = await until(async () => {
      const list = JSON.parse(ok(await berth('top', 'nodes', '-o', 'json')).stdout) as UsageList<NodeUsage>;
      const n = list.items.find((i) => i.node === nodeName);
      return n && n.cpu > 50 && n.memory > 40 * MiB && n.tasks === 2 ? n : undefined;
    }, 60_000, 'the node using CPU and above 40 MiB with two tasks');
    assert.deepEqual(node.allocatable, { cpu: 2000, memory: 2 * 1024 * MiB });
    assert.deepEqual(node.requested, { cpu: 1500, memory: 128 * MiB });
    const table = ok(await berth('top', 'nodes')).stdout;
    assert.match(table, new RegExp(`^${nodeName}\\s+\\d+m?\\s+\\d+%\\s+\\S+Mi\\s+\\d+%\\s+1500m/2\\s+128Mi/2Gi\\s+2$`, 'm'));

    const viewer = ok(await berth('token', 'create', 'watcher', '--role', 'viewer')).stdout.trim();
    const res = await server!.fetch(`${server!.url}/v1/usage/nodes`, { headers: { authorization: `Bearer ${viewer}` } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as UsageList<NodeUsage>;
    assert.deepEqual(body.items.map((n) => n.node), [nodeName]);
    assert.deepEqual(body.unreachable, []);
    const anonymous = await server!.fetch(`${server!.url}/v1/usage/tasks`);
    assert.equal(anonymous.status, 401);
  });

  it('the agent\'s /metrics (loopback): tasks by state, start durations, each container\'s CPU and memory', async () => {
    const text = await until(async () => {
      const body = await (await fetch(metricsUrl)).text();
      return /berth_agent_container_memory_bytes\{task="hog\.1\.[^"]+",service="hog"\} (\d+)/.test(body) ? body : undefined;
    }, 30_000, 'the hog container in the agent\'s metrics');
    const memory = Number(/berth_agent_container_memory_bytes\{task="hog\.1\.[^"]+",service="hog"\} (\d+)/.exec(text)![1]);
    assert.ok(memory > 40 * MiB, `hog's memory in the agent's metrics: ${memory}`);
    const cpu = Number(/berth_agent_container_cpu_seconds_total\{task="burn\.1\.[^"]+",service="burn"\} ([\d.e+-]+)/.exec(text)?.[1]);
    assert.ok(cpu > 0, `burn's CPU seconds: ${cpu}`);
    assert.match(text, /^berth_agent_tasks\{state="running"\} 2$/m);
    assert.match(text, /^berth_agent_container_start_duration_seconds_count [1-9]\d*$/m);
    assert.match(text, /^# TYPE berth_agent_health_probes_total counter$/m);
  });

  it('a real Prometheus scrapes the agent and has its containers\' series', async function () {
    if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: deploy/setup.sh installs Debian's prometheus package`);
    const target = new URL(metricsUrl).host;
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: berth-agent
    static_configs:
      - targets: ['${target}']
`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    promLog = keepLogTail(prom);
    promExited = exitOf(prom).then(() => undefined);
    const query = async (q: string): Promise<number | undefined> => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      const first = body.data.result[0];
      return first ? Number(first.value[1]) : undefined;
    };
    const memory = await until(async () => {
      const v = await query('berth_agent_container_memory_bytes{service="hog"}').catch(() => undefined);
      return v !== undefined && v > 40 * MiB ? v : undefined;
    }, 60_000, `Prometheus has hog's memory; its log:\n${promLog()}`);
    assert.ok(memory > 40 * MiB);
    assert.equal(await query('berth_agent_tasks{state="running"}'), 2);
    assert.ok(((await query('berth_agent_container_cpu_seconds_total{service="burn"}')) ?? 0) > 0);
  });
});
