// Events and watching, as a user of `berth` sees them: a real server, a process-runtime agent,
// `get events`, `describe ... Events:`, and `get tasks -w` as a child process.
import assert from 'node:assert/strict';
import type { BerthEvent } from '../../common/events.js';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { ok, runBerth, spawnBerth, startAgent, startServer, type BerthDaemon, type TestAgent, type TestServer } from '../helpers/berth.js';

const SLEEPER = sleeperManifest('sleeper', { replicas: 1, seconds: 300, cpu: '100m', memory: '16Mi' });

describe('e2e: events and watch through the berth CLI', function () {
  this.timeout(120_000);
  let server: TestServer;
  let agent: TestAgent | undefined;
  let watcher: BerthDaemon | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });
  const tasks = async () => (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;

  before(async () => {
    server = await startServer();
    agent = startAgent(server, { name: 'node-a' });
    await eventually(async () => /^node-a +ready /m.test((await berth('get', 'nodes')).stdout), 30_000, `node-a ready; agent said:\n${agent.logTail()}`);
  });

  after(async () => {
    await watcher?.stop('SIGKILL');
    if (server && agent) {
      await berth('delete', 'service', 'sleeper');
      await eventually(async () => (await tasks()).length === 0, 20_000, 'tasks removed').catch(() => undefined);
    }
    await agent?.stop();
    await server?.stop();
  });

  it('get events shows the service created, its task scheduled and started; describe ends with events', async () => {
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: SLEEPER }));
    await eventually(async () => {
      const out = (await berth('get', 'events')).stdout;
      return /ServiceCreated/.test(out) && /TaskScheduled/.test(out) && /TaskStarted/.test(out);
    }, 60_000, 'ServiceCreated, TaskScheduled and TaskStarted events');

    const lines = ok(await berth('get', 'events')).stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$/);
    assert.ok(lines.some((l) => /^\d+[smh] +Normal +NodeRegistered +node\/node-a +joined: process runtime/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\d+[smh] +Normal +ServiceCreated +service\/sleeper +created at version \d+$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\d+[smh] +Normal +TaskScheduled +task\/sleeper\.1\.\S+ +scheduled on node-a$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\d+[smh] +Normal +TaskStarted +task\/sleeper\.1\.\S+ +started on node-a$/.test(l)), lines.join('\n'));

    // --for narrows to one object (a service brings its tasks' events); json lists them oldest first.
    const ofService = JSON.parse(ok(await berth('get', 'events', '--for', 'service/sleeper', '-o', 'json')).stdout) as { items: BerthEvent[] };
    const reasons = ofService.items.map((e) => e.reason);
    assert.ok(reasons.indexOf('ServiceCreated') < reasons.indexOf('TaskScheduled') && reasons.indexOf('TaskScheduled') < reasons.indexOf('TaskStarted'), reasons.join(','));
    assert.ok(ofService.items.every((e) => e.service === 'sleeper'), 'only the service and its tasks');
    const ofNode = ok(await berth('get', 'events', '--for', 'node/node-a')).stdout;
    assert.doesNotMatch(ofNode, /sleeper/);

    const described = ok(await berth('describe', 'service', 'sleeper')).stdout;
    const events = described.slice(described.lastIndexOf('Events:'));
    assert.ok(described.lastIndexOf('Events:') > described.indexOf('Tasks:'), described);
    assert.match(events, /Normal +ServiceCreated +\d+[smh] +created at version/);
    assert.match(events, /Normal +TaskStarted +\d+[smh] +task\/sleeper\.1\.\S+: started on node-a/);
    const task = (await tasks())[0]!;
    assert.match(ok(await berth('describe', 'task', task.name)).stdout, /Events:\n(.*\n)*.*TaskStarted +\d+[smh] +started on node-a/);
  });

  it('get tasks -w prints a new line when the service is scaled, and exits 0 on Ctrl-C', async () => {
    watcher = spawnBerth(['get', 'tasks', '-w', '--config', server.configPath]);
    const w = watcher;
    await eventually(() => /^sleeper\.1\.\S+ +sleeper +node-a +running +running/m.test(w.stdout()), 30_000, `the first table; got:\n${w.stdout()}${w.stderr()}`);
    const before = w.stdout().trimEnd().split('\n').length;
    assert.equal(before, 2, w.stdout());

    ok(await berth('scale', 'service', 'sleeper', '--replicas', '2'));
    await eventually(() => /^sleeper\.2\.\S+ +sleeper +node-a +running +running/m.test(w.stdout()), 60_000, `a running line for slot 2; got:\n${w.stdout()}`);
    const lines = w.stdout().trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME +SERVICE +NODE +DESIRED +STATE/);
    assert.ok(lines.slice(2).every((l) => /^sleeper\.2\./.test(l)), `only slot 2 changed:\n${lines.join('\n')}`);

    const exit = await w.stop('SIGINT');
    watcher = undefined;
    assert.deepEqual(exit, { code: 0, signal: null }, w.stderr());
  });
});
