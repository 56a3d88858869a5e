// The `berth` client against a real `berth server` (embedded etcd, no agent): every verb, every
// output format, and the failures a user meets first (bad manifest, wrong token).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Service, Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { ok, REPO_ROOT, runBerth, startServer, type TestServer } from '../helpers/berth.js';

const WEB = readFileSync(path.join(REPO_ROOT, 'examples', 'web.yaml'), 'utf8');

function service(name: string, replicas: number, extra = ''): string {
  return [
    'apiVersion: berth/v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  image: berth/busybox:latest',
    `  replicas: ${replicas}`,
    extra,
  ].join('\n');
}

describe('e2e: berth client against berth server', function () {
  this.timeout(120_000);
  let server: TestServer;
  let dir: string;
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-e2e-'));
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('apply creates, re-apply is unchanged, a change is configured; get services shows it', async () => {
    const web = file('web.yaml', WEB);
    assert.equal(ok(await berth('apply', '-f', web)).stdout, 'service/web created\n');
    assert.equal(ok(await berth('apply', '-f', web)).stdout, 'service/web unchanged\n');
    file('web.yaml', WEB.replace('replicas: 6', 'replicas: 4'));
    assert.equal(ok(await berth('apply', '-f', web)).stdout, 'service/web configured\n');
    const r = ok(await berth('get', 'services'));
    const [header, row, ...rest] = r.stdout.trimEnd().split('\n');
    assert.match(header ?? '', /^NAME +MODE +REPLICAS +READY +UP-TO-DATE +AVAILABLE +IMAGE +AGE$/);
    assert.match(row ?? '', /^web +replicated +0\/4 +0\/4 +4 +0 +berth\/web:latest +\d+s$/);
    assert.deepEqual(rest, []);
  });

  it('get tasks shows the tasks pending because no node is available', async () => {
    const r = await eventually(async () => {
      const out = ok(await berth('get', 'tasks'));
      const rows = out.stdout.trimEnd().split('\n').slice(1);
      return rows.length === 4 && rows.every((l) => /no nodes available/.test(l)) ? out : undefined;
    }, 30_000, 'four pending tasks');
    assert.ok(r);
    for (const line of r.stdout.trimEnd().split('\n').slice(1)) {
      assert.match(line, /^web\.\d\.\S+ +web +<none> +running +pending +0 +\d+s +0\/0 nodes available: no nodes available$/);
    }
  });

  it('get: table, wide, json and yaml for services, tasks and nodes', async () => {
    const wideSvc = ok(await berth('get', 'svc', '-o', 'wide')).stdout;
    assert.match(wideSvc, /^NAME +MODE +REPLICAS +READY +UP-TO-DATE +AVAILABLE +IMAGE +AGE +PORTS\nweb +replicated +0\/4 +0\/4 +\d+ +0 +berth\/web:latest +\S+ +8080\/tcp\n$/);
    const json = JSON.parse(ok(await berth('get', 'service', '-o', 'json')).stdout) as { items: (Service & { status: { desired: number } })[] };
    assert.deepEqual(json.items.map((s) => [s.metadata.name, s.spec.replicas, s.status.desired]), [['web', 4, 4]]);
    const one = parseYaml(ok(await berth('get', 'svc', 'web', '-o', 'yaml')).stdout) as Service;
    assert.equal(one.spec.image, 'berth/web:latest');
    assert.equal(one.spec.env?.GREETING, 'hello from berth');

    const wideTasks = ok(await berth('get', 'task', '-o', 'wide', '--service', 'web')).stdout.trimEnd().split('\n');
    assert.match(wideTasks[0] ?? '', /^NAME +SERVICE +NODE +DESIRED +STATE +RESTARTS +AGE +MESSAGE +PORTS +CONTAINER$/);
    assert.equal(wideTasks.length, 5);
    assert.match(wideTasks[1] ?? '', /no nodes available +<none> +<none>$/);
    const tasks = (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;
    assert.equal(tasks.length, 4);
    assert.ok(tasks.every((t) => t.serviceName === 'web' && t.status.state === 'pending'));
    const yamlTasks = parseYaml(ok(await berth('get', 'tasks', '-o', 'yaml')).stdout) as { items: Task[] };
    assert.deepEqual(yamlTasks.items.map((t) => t.id).sort(), tasks.map((t) => t.id).sort());

    // No agent runs: the node list is empty in every format.
    for (const format of ['table', 'wide']) {
      const r = ok(await berth('get', 'nodes', '-o', format));
      assert.deepEqual([r.stdout, r.stderr], ['', 'No nodes found.\n']);
    }
    assert.deepEqual(JSON.parse(ok(await berth('get', 'no', '-o', 'json')).stdout), { items: [] });
    assert.deepEqual(parseYaml(ok(await berth('get', 'node', '-o', 'yaml')).stdout), { items: [] });
    const missing = await berth('get', 'node', 'node-x');
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /^error: .*node-x.*not found/);
  });

  it('describe service and task', async () => {
    const svc = ok(await berth('describe', 'service', 'web')).stdout;
    assert.match(svc, /^Name: +web$/m);
    assert.match(svc, /^Replicas: +4 desired \| 0 running \| 4 tasks$/m);
    assert.match(svc, /^Image: +berth\/web:latest$/m);
    assert.match(svc, /^Environment:\n {2}GREETING=hello from berth$/m);
    assert.match(svc, /^ {2}CPU: +100m\n {2}Memory: +32Mi$/m);
    assert.match(svc, /^Tasks:\n {2}NAME +NODE +DESIRED +STATE +RESTARTS +AGE +MESSAGE\n( {2}web\.\d.*no nodes available\n?){4}$/m);

    const [task] = (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;
    assert.ok(task);
    const byName = ok(await berth('describe', 'task', task.name)).stdout;
    assert.match(byName, new RegExp(`^ID: +${task.id}$`, 'm'));
    assert.match(byName, /^State: +pending since /m);
    assert.match(byName, /^Message: +0\/0 nodes available: no nodes available$/m);
    assert.match(byName, /^Node: +<none>$/m);
    const byPrefix = ok(await berth('describe', 'task', task.id.slice(0, 8))).stdout;
    assert.match(byPrefix, new RegExp(`^Name: +${task.name.replace(/\./g, '\\.')}\nID: +${task.id}$`, 'm'), 'an id prefix finds the same task');
  });

  it('scale changes the desired replicas and the live tasks follow', async () => {
    assert.equal(ok(await berth('scale', 'service', 'web', '--replicas', '2')).stdout, 'service/web scaled to 2 replicas\n');
    assert.match(ok(await berth('get', 'svc', 'web')).stdout, /^web +replicated +0\/2 /m);
    await eventually(async () => {
      const items = (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;
      return items.filter((t) => t.desiredState === 'running').length === 2;
    }, 30_000, 'two live tasks');
    ok(await berth('scale', 'svc/web=3'));
    assert.match(ok(await berth('get', 'svc', 'web')).stdout, /^web +replicated +0\/3 /m);
  });

  it('apply from stdin, then delete -f deletes every service of the file and reports the missing one', async () => {
    const two = [service('api', 1), '---', service('worker', 2)].join('\n');
    const applied = ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: two }));
    assert.equal(applied.stdout, 'service/api created\nservice/worker created\n');
    ok(await berth('delete', 'service', 'worker'));
    const r = await berth('delete', '-f', file('two.yaml', two));
    assert.equal(r.code, 5, 'worker was already gone');
    assert.equal(r.stdout, 'service/api deleted\n');
    assert.match(r.stderr, /^error: .*worker.*not found\n$/);
    const names = (JSON.parse(ok(await berth('get', 'svc', '-o', 'json')).stdout) as { items: Service[] }).items.map((s) => s.metadata.name);
    assert.deepEqual(names, ['web']);
  });

  it('a bad manifest fails naming file and field, and nothing is sent', async () => {
    const bad = file('bad.yaml', [service('ok-one', 1), '---', service('broken', -2)].join('\n'));
    const r = await berth('apply', '-f', bad);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\[1\\] spec\\.replicas: .+\\n$`));
    const names = (JSON.parse(ok(await berth('get', 'svc', '-o', 'json')).stdout) as { items: Service[] }).items.map((s) => s.metadata.name);
    assert.deepEqual(names, ['web'], 'the valid document of the file was not applied either');
  });

  it('version prints the client version and, asked to, whether the server answers', async () => {
    const r = ok(await berth('version', '--check-server'));
    const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.match(r.stdout, new RegExp(`^berth ${version.replace(/\./g, '\\.')} \\(node ${process.version}\\)\nserver ${server.url}: ok\nserver \\S+ \\(${server.url}, leader\\): berth ${version.replace(/\./g, '\\.')}\n$`));
  });

  it('a wrong token exits 4 with one clear line', async () => {
    const r = await berth('get', 'services', '--token', 'not-the-token');
    assert.equal(r.code, 4);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `error: unauthorized by ${server.url}: the token from --token was rejected\n`);
    const noToken = await runBerth(['get', 'nodes', '--server', server.url], { env: { HOME: dir, BERTH_CA_FILE: path.join(server.dataDir, 'ca.crt') } });
    assert.equal(noToken.code, 4);
    assert.match(noToken.stderr, /^error: unauthorized by .*: no token was given \(pass --token or set token in the config file\)\n$/);
  });

  it('delete service removes it and its tasks', async () => {
    assert.equal(ok(await berth('delete', 'svc', 'web')).stdout, 'service/web deleted\n');
    const r = ok(await berth('get', 'services'));
    assert.deepEqual([r.stdout, r.stderr], ['', 'No services found.\n']);
    const again = await berth('delete', 'service', 'web');
    assert.equal(again.code, 5);
    assert.match(again.stderr, /^error: .*web.*not found\n$/);
    await eventually(async () => {
      const items = (JSON.parse(ok(await berth('get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;
      return items.length === 0;
    }, 30_000, 'the tasks of web to be removed');
  });
});
