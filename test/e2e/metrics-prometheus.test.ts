// `GET /metrics` scraped by a real Prometheus (Debian's package, on loopback): Prometheus reaches
// the API over HTTPS with the cluster CA and a viewer token as its bearer token, and its own
// query API then answers with the series a user would graph: the service's running tasks, and
// its restarts going up after a container is killed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { exitOf, keepLogTail, listTasks, ok, runBerth, startAgent, startServer, stopChild, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

const PROMETHEUS = '/usr/bin/prometheus';

describe('e2e: metrics scraped by Prometheus', function () {
  this.timeout(180_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-prom`;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let prom: ChildProcess | undefined;
  let promExited: Promise<void> | undefined;
  let promLog: () => string = () => '';
  let promUrl = '';
  let dir = '';
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });

  /** The value of a PromQL query's single sample (undefined while there is none). */
  const query = async (q: string): Promise<number | undefined> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
    const first = body.data.result[0];
    return first ? Number(first.value[1]) : undefined;
  };

  before(async function () {
    if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: deploy/setup.sh installs Debian's prometheus package`);
    await ensureTestImages();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-prom-'));
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker' });
    await waitNodesReady(server, [agent]);
    const token = ok(await berth('token', 'create', 'prometheus', '--role', 'viewer')).stdout.trim();
    writeFileSync(path.join(dir, 'token'), token, { mode: 0o600 });
    const target = new URL(server.url).host;
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: berth
    scheme: https
    tls_config:
      ca_file: ${path.join(server.dataDir, 'ca.crt')}
      server_name: 127.0.0.1
    authorization:
      credentials_file: ${path.join(dir, 'token')}
    static_configs:
      - targets: ['${target}']
`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    promLog = keepLogTail(prom);
    promExited = exitOf(prom).then(() => undefined);
  });

  after(async () => {
    if (prom && promExited) await stopChild(prom, promExited, 'SIGTERM');
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Prometheus scrapes the API with a viewer token and sees the running tasks, then the restart of a killed container', async () => {
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: sleeperManifest('web', { replicas: 2, memory: '16Mi', stopGracePeriodSeconds: 1 }) }));
    const up = await eventually(async () => ((await query('up{job="berth"}').catch(() => undefined)) === 1 ? true : undefined), 60_000, `Prometheus scrapes the server; its log:\n${promLog()}`);
    assert.ok(up);
    const running = await eventually(async () => ((await query('berth_service_running_tasks{service="web"}')) === 2 ? 2 : undefined), 60_000, 'two running tasks in Prometheus');
    assert.equal(running, 2);
    assert.equal(await query('berth_leader'), 1);
    assert.ok(((await query('sum(berth_etcd_request_duration_seconds_count)')) ?? 0) > 0, 'etcd requests were measured');

    const before = (await query('sum(berth_task_restarts_total{service="web"})')) ?? 0;
    const [victim] = (await listTasks(server!, '--service', 'web')).filter((t) => t.status.state === 'running');
    await docker('kill', victim!.status.containerId!);
    const after = await eventually(async () => {
      const n = (await query('sum(berth_task_restarts_total{service="web"})')) ?? 0;
      return n > before ? n : undefined;
    }, 60_000, 'the restart counted in Prometheus');
    assert.equal(after, before + 1);
    const back = await eventually(async () => ((await query('berth_service_running_tasks{service="web"}')) === 2 ? 2 : undefined), 60_000, 'two running tasks again');
    assert.equal(back, 2);
  });

  it('refuses a scrape without a token', async () => {
    const res = await server!.fetch(`${server!.url}/metrics`);
    assert.equal(res.status, 401);
  });
});
