import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { describeNode, describeService, describeTask } from '../../cli/output/describe.js';
import {
  agentService,
  failedTask,
  node1,
  NOW,
  pendingTask,
  runCli,
  runningTask,
  webService,
  type Recorded,
} from '../helpers/berth.js';

describe('cli get (in-process, fake API)', () => {
  it('table: aligned columns under the headers', async () => {
    const r = await runCli(['get', 'services']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'NAME        MODE         REPLICAS   IMAGE           AGE',
        'log-agent   global       2/2        berth/busybox   2h',
        'web         replicated   4/6        berth/web:1     3m',
        '',
      ].join('\n'),
    );
  });

  it('accepts singular and short kind names and KIND/NAME', async () => {
    for (const kind of ['svc', 'service', 'services', 'SVC']) {
      const r = await runCli(['get', kind]);
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
      assert.match(r.stdout, /^NAME\s+MODE/);
    }
    const one = await runCli(['get', 'svc/web', '-o', 'json']);
    assert.equal((JSON.parse(one.stdout) as { metadata: { name: string } }).metadata.name, 'web');
    assert.equal((await runCli(['get', 'no'])).code, 0);
  });

  it('wide adds columns; tasks show node names looked up from /v1/nodes', async () => {
    const r = await runCli(['get', 'tasks', '-o', 'wide']);
    assert.equal(r.code, 0, r.stderr);
    const [header, first] = r.stdout.split('\n');
    assert.match(header ?? '', /^NAME\s+SERVICE\s+NODE\s+DESIRED\s+STATE\s+RESTARTS\s+AGE\s+MESSAGE\s+PORTS\s+CONTAINER$/);
    assert.match(first ?? '', /^web\.1\.a1b2c3\s+web\s+node-1\s+running\s+running\s+0\s+5s\s+32768->8080\/tcp\s+0123456789ab$/);
  });

  it('json and yaml print the API objects: { items } for a list, the object for one name', async () => {
    const list = await runCli(['get', 'services', '-o', 'json']);
    assert.deepEqual(JSON.parse(list.stdout), { items: [webService, agentService] });
    const yamlList = await runCli(['get', 'nodes', '-o', 'yaml']);
    assert.deepEqual(parseYaml(yamlList.stdout), { items: [node1] });
    const one = await runCli(['get', 'task', 'web.1.a1b2c3', '-o', 'yaml']);
    assert.deepEqual(parseYaml(one.stdout), runningTask);
  });

  it('--service filters tasks on the server and the bearer token goes with every call', async () => {
    const log: Recorded[] = [];
    const r = await runCli(['get', 'tasks', '--service', 'web'], { log });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      log.map((l) => `${l.method} ${l.path}`),
      ['GET /v1/tasks?service=web', 'GET /v1/nodes'],
    );
    assert.ok(log.every((l) => l.auth === 'Bearer t0k'));
  });

  it('an empty list says so on stderr and exits 0', async () => {
    const r = await runCli(['get', 'services'], { routes: { 'GET /v1/services': [200, { items: [] }] } });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'No services found.\n');
  });

  it('API errors become one line and their own exit code (5 not found, 4 unauthorized)', async () => {
    const r = await runCli(['get', 'svc', 'nope']);
    assert.equal(r.code, 5);
    assert.equal(r.stderr, 'error: no route GET /v1/services/nope\n');
    const unauthorized = await runCli(['get', 'svc'], {
      routes: { 'GET /v1/services': [401, { error: 'Unauthorized', message: 'bad token' }] },
    });
    assert.equal(unauthorized.code, 4);
    assert.match(unauthorized.stderr, /^error: unauthorized by http:\/\/api\.test:7070: the token from --token was rejected$/m);
    assert.equal(unauthorized.stderr.trim().split('\n').length, 1);
  });

  it('an unreachable server is one clear line, not a stack trace', async () => {
    const r = await runCli(['get', 'svc'], {
      io: {
        fetch: () => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })),
      },
    });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'error: cannot reach the server at http://api.test:7070: connection refused (is "berth server" running?)\n');
  });
});

describe('cli describe', () => {
  const names = new Map([[node1.id, node1.name]]);

  it('service: spec sections with aligned values and its tasks table', () => {
    const text = describeService(webService, [runningTask, pendingTask], names, NOW);
    assert.match(text, /^Name: {2,}web$/m);
    assert.match(text, /^Replicas: {2,}6 desired \| 4 running \| 6 tasks$/m);
    assert.match(text, /^Image: {2,}berth\/web:1$/m);
    assert.match(text, /^Environment:\n {2}MODE=prod$/m);
    assert.match(text, /^ {2}CPU: {2,}250m$/m);
    assert.match(text, /^ {2}Constraints: {2,}node\.labels\.zone==a$/m);
    assert.match(text, /^Restart policy: {2,}condition=on-failure, delay=5s$/m);
    assert.match(text, /^Tasks:\n {2}NAME +NODE +DESIRED +STATE +RESTARTS +AGE +MESSAGE\n {2}web\.1\.a1b2c3 +node-1 +running/m);
    const valueColumn = new Set(
      text
        .split('\n')
        .filter((l) => /^[A-Z][^:]*: +\S/.test(l))
        .map((l) => l.length - l.replace(/^[^:]*: +/, '').length),
    );
    assert.equal(valueColumn.size, 1, 'top-level values share one column');
    assert.doesNotMatch(text, /Events/, 'no Events section until the API serves events');
  });

  it('task: states, node name and id, ports, exit code and last output', () => {
    const text = describeTask(failedTask, names, NOW);
    assert.match(text, /^Node: +node-1 \(n-7f3a9c\)$/m);
    assert.match(text, /^Desired state: +shutdown$/m);
    assert.match(text, /^State: +failed since \S+ \(1m ago\)$/m);
    assert.match(text, /^Exit code: +3$/m);
    assert.match(text, /^Last output:\n {2}booting\n {2}panic: no config$/m);
    const running = describeTask(runningTask, names, NOW);
    assert.match(running, /^Ports: +32768->8080\/tcp$/m);
    assert.match(running, /^Container: +0123456789abcdef0123456789abcdef$/m);
    assert.doesNotMatch(running, /Exit code|Last output/, 'nothing about an exit before there is one');
    const pending = describeTask(pendingTask, names, NOW);
    assert.match(pending, /^Message: +0\/0 nodes available: no nodes available$/m);
    assert.match(pending, /^Node: +<none>$/m);
  });

  it('node: capacity, allocatable, what its tasks request, and events when given', () => {
    const text = describeNode(node1, [runningTask, failedTask], NOW, [
      { time: new Date(NOW - 30_000).toISOString(), reason: 'NodeReady', message: 'node-1 joined' },
    ]);
    assert.match(text, /^Capacity:\n {2}CPU: +4\n {2}Memory: +8Gi$/m);
    assert.match(text, /^Allocatable:\n {2}CPU: +3500m\n {2}Memory: +7Gi$/m);
    assert.match(text, /^Requested by tasks:\n {2}CPU: +250m \(7%\)\n {2}Memory: +64Mi \(1%\)$/m, 'only tasks desired running count');
    assert.match(text, /^Labels:\n {2}disk=ssd\n {2}zone=a$/m);
    assert.match(text, /^Events:\n {2}TYPE +REASON +AGE +MESSAGE\n {2}Normal +NodeReady +30s +node-1 joined$/m);
  });
});
