// Chaos at the container level, with a real server and a real docker agent, seen as a user sees
// it through `berth`: a container killed behind the agent's back is replaced in its slot (and
// the events say so); a command that keeps exiting 1 crash-loops with a growing backoff shown in
// `get tasks`; a container that stays up but fails its HTTP health check is killed and replaced.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import type { BerthEvent } from '../../common/events.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { berthJson, listTasks, runBerth, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { BUSYBOX_IMAGE, docker, inspectContainer, WEB_IMAGE } from '../helpers/docker.js';

const service = serviceManifest;

const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

describe('e2e chaos: containers killed, crash-looping, unhealthy (docker runtime)', function () {
  this.timeout(240_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;
  let nodeName = '';
  const services: string[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const apply = async (name: string, body: string) => {
    services.push(name);
    const r = await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: service(name, body) });
    assert.equal(r.code, 0, r.stderr);
  };
  const events = async (forRef: string) => (await berthJson<{ items: BerthEvent[] }>(server!, 'get', 'events', '--for', forRef)).items;

  before(async function () {
    this.timeout(120_000);
    cluster = await startCluster({ prefix: 'chaos-ctr', agents: [{ name: 'n1', cpu: '2', memory: '2Gi' }] });
    server = cluster.server;
    [nodeName = ''] = cluster.nodeNames;
  });

  after(async () => {
    await cluster?.stop({ services });
  });

  it('docker kill: a new task runs in the same slot in a new container, and the events show the failure and the restart', async () => {
    const srv = server!;
    await apply('victim', `image: ${BUSYBOX_IMAGE}\ncommand: ["sleep", "3600"]\nreplicas: 2\nstopGracePeriodSeconds: 1`);
    await eventually(async () => liveRunning(await listTasks(srv, '--service', 'victim')).length === 2, 90_000, '2 running');
    const [target] = liveRunning(await listTasks(srv, '--service', 'victim')).sort((a, b) => a.slot - b.slot);
    assert.ok(target?.status.containerId);
    const oldContainer = (await inspectContainer(target.status.containerId)).Id;

    await docker('kill', oldContainer);

    const replacement = await eventually(
      async () =>
        liveRunning(await listTasks(srv, '--service', 'victim')).find((t) => t.slot === target.slot && t.id !== target.id),
      60_000,
      `a new running task in slot ${target.slot}`,
    );
    assert.ok(replacement?.status.containerId);
    const newContainer = await inspectContainer(replacement.status.containerId);
    assert.notEqual(newContainer.Id, oldContainer, 'a new container');
    assert.equal(newContainer.State.Running, true);
    assert.equal(newContainer.Config.Labels['berth.slot'], String(target.slot));
    const old = (await listTasks(srv, '--service', 'victim')).find((t) => t.id === target.id);
    assert.equal(old?.status.state, 'failed', 'the killed task is kept as a failed one');
    assert.equal(old?.status.exitCode, 137, 'SIGKILL exit code');
    assert.equal(liveRunning(await listTasks(srv, '--service', 'victim')).length, 2, 'still exactly 2 running');

    // The events, as JSON and as the table a user reads.
    await eventually(async () => {
      const failed = (await events(`task/${target.name}`)).some((e) => e.reason === 'TaskFailed' && /exit code 137/.test(e.message));
      const started = (await events(`task/${replacement.name}`)).some((e) => e.reason === 'TaskStarted');
      return failed && started;
    }, 30_000, 'TaskFailed of the killed task and TaskStarted of its replacement');
    const table = await berth('get', 'events', '--for', 'service/victim');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`Warning +TaskFailed +task/${target.name.replace(/\./g, '\\.')} +failed with exit code 137`));
    assert.match(table.stdout, new RegExp(`Normal +TaskStarted +task/${replacement.name.replace(/\./g, '\\.')} +started on ${nodeName}`));
  });

  it('a command that exits 1 again and again: RESTARTS grows, crash-looping with the next retry, and the backoff grows', async () => {
    const srv = server!;
    await apply('crasher', `image: ${BUSYBOX_IMAGE}\ncommand: ["sh", "-c", "exit 1"]\nreplicas: 1\nstopGracePeriodSeconds: 1`);

    // Read the table as a user would: RESTARTS climbs and MESSAGE names the next retry.
    const seen = new Set<number>();
    let crashLine = '';
    await eventually(async () => {
      const r = await berth('get', 'tasks', '--service', 'crasher');
      const header = r.stdout.split('\n')[0] ?? '';
      assert.match(header, /RESTARTS/);
      for (const line of r.stdout.split('\n').slice(1)) {
        const m = /^crasher\.1\.\S+\s+crasher\s+\S+\s+running\s+\S+\s+(\d+)\s/.exec(line);
        if (m) seen.add(Number(m[1]));
        if (/crash-looping: restart \d+, next retry at \d\d:\d\d:\d\d \(in \d+s\)/.test(line)) crashLine = line;
      }
      return Math.max(0, ...seen) >= 4 && crashLine !== '';
    }, 120_000, 'RESTARTS to reach 4 and a crash-looping message');
    assert.ok(seen.size >= 2, `RESTARTS seen growing: ${[...seen].join(', ')}`);

    // The recorded restart times: each restart of the slot waits longer than the previous one.
    const history = (await listTasks(srv, '--service', 'crasher'))
      .filter((t) => t.slot === 1 && t.restartAt && (t.restarts ?? 0) >= 2)
      .sort((a, b) => (a.restarts ?? 0) - (b.restarts ?? 0));
    assert.ok(history.length >= 2, `at least two delayed restarts recorded, got ${history.length}`);
    for (let i = 1; i < history.length; i++) {
      const prev = history[i - 1]!;
      const cur = history[i]!;
      const prevDelay = Date.parse(prev.restartAt!) - Date.parse(prev.createdAt);
      const curDelay = Date.parse(cur.restartAt!) - Date.parse(cur.createdAt);
      assert.ok(Date.parse(cur.restartAt!) > Date.parse(prev.restartAt!), 'restartAt moves forward');
      assert.ok(curDelay > prevDelay, `restart ${cur.restarts} waits longer (${curDelay} ms) than restart ${prev.restarts} (${prevDelay} ms)`);
    }
    const backoffEvents = (await events('service/crasher')).filter((e) => e.reason === 'CrashLoopBackOff');
    assert.ok(backoffEvents.length >= 1, 'CrashLoopBackOff events recorded');
    assert.ok((await events('service/crasher')).some((e) => e.reason === 'TaskFailed' && /exit code 1\b/.test(e.message)));
    await berth('delete', 'service', 'crasher');
  });

  it('a container that stays up but fails its HTTP health check: killed and replaced, READY follows', async () => {
    const srv = server!;
    await apply(
      'probed',
      [
        `image: ${WEB_IMAGE}`,
        'replicas: 1',
        'stopGracePeriodSeconds: 1',
        'healthCheck:',
        '  http: { port: 8080, path: /index.html }',
        '  intervalSeconds: 0.5',
        '  timeoutSeconds: 1',
        '  failureThreshold: 2',
      ].join('\n'),
    );
    const readyColumn = async () => {
      const r = await berth('get', 'services', 'probed');
      const [header, row] = r.stdout.split('\n');
      const idx = (header ?? '').split(/\s{2,}/).indexOf('READY');
      return idx < 0 ? undefined : (row ?? '').split(/\s{2,}/)[idx];
    };
    await eventually(async () => (await readyColumn()) === '1/1', 90_000, 'READY 1/1');
    const [first] = liveRunning(await listTasks(srv, '--service', 'probed'));
    assert.ok(first?.status.containerId);
    assert.equal(first.status.health, 'healthy');
    const firstContainer = (await inspectContainer(first.status.containerId)).Id;

    // The server inside keeps running; only the page the check asks for goes away.
    await docker('exec', firstContainer, 'rm', '/www/index.html');

    const failed = await eventually(
      async () => (await listTasks(srv, '--service', 'probed')).find((t) => t.id === first.id && t.status.state === 'failed'),
      60_000,
      'the unhealthy task failed',
    );
    assert.equal(failed?.status.reason, 'Unhealthy');
    assert.match(failed?.status.lastProbe?.message ?? '', /404/);
    const replacement = await eventually(
      async () =>
        liveRunning(await listTasks(srv, '--service', 'probed')).find((t) => t.slot === first.slot && t.id !== first.id && t.status.health === 'healthy'),
      90_000,
      'a healthy replacement in the same slot',
    );
    assert.ok(replacement?.status.containerId);
    assert.notEqual((await inspectContainer(replacement.status.containerId)).Id, firstContainer, 'a new container');
    const gone = await docker('ps', '-a', '-q', '--no-trunc', '--filter', `id=${firstContainer}`, '--filter', 'status=running');
    assert.equal(gone, '', 'the unhealthy container no longer runs');
    await eventually(async () => (await readyColumn()) === '1/1', 60_000, 'READY 1/1 again');

    const evs = await events('service/probed');
    assert.ok(evs.some((e) => e.reason === 'TaskUnhealthy' && e.object.name === first.name), 'a TaskUnhealthy event for the first task');
    const table = await berth('get', 'tasks', '--service', 'probed');
    assert.match(table.stdout, new RegExp(`^${first.name.replace(/\./g, '\\.')} .* failed .*`, 'm'));
  });
});
