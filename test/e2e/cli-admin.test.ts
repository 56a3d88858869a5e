// End to end against real `berth server`s (no agents needed): label selectors on get/delete,
// every -o form, contexts across two servers, diff exit codes, apply --dry-run=server writing
// nothing, and one line plus a distinct exit code for each error case.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ServiceView } from '../../cli/api-client.js';
import type { Task } from '../../common/types.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { runBerth, startServer, type BerthResult, type TestServer } from '../helpers/berth.js';

const service = (name: string, labels: Record<string, string>, replicas: number, extra = '') =>
  [
    'apiVersion: berth/v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    `  labels: ${JSON.stringify(labels)}`,
    extra,
    'spec:',
    '  image: berth/none:1',
    `  replicas: ${replicas}`,
  ]
    .filter(Boolean)
    .join('\n');

describe('e2e: berth admin (selectors, output, contexts, diff, dry-run, errors)', function () {
  this.timeout(180_000);
  let a: TestServer;
  let b: TestServer;
  let dir: string;
  let cfg: string;

  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const on = (server: TestServer, ...args: string[]) => runBerth(args, { config: server.configPath });
  const withCfg = (...args: string[]) => runBerth(args, { config: cfg });
  const ok = (r: BerthResult) => {
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    return r;
  };
  const services = async (server: TestServer) => {
    const res = await server.fetch(`${server.url}/v1/services`, { headers: { authorization: `Bearer ${server.token}` } });
    return ((await res.json()) as { items: ServiceView[] }).items;
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-admin-'));
    cfg = path.join(dir, 'config');
    [a, b] = await Promise.all([startServer(), startServer()]);
    const two = [service('web', { app: 'web', tier: 'front' }, 2), '---', service('db', { app: 'db', tier: 'back' }, 1)].join('\n');
    ok(await on(a, 'apply', '-f', file('two.yaml', two)));
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('get -l selects services and (by their service) tasks; every -o form prints them', async () => {
    assert.equal(ok(await on(a, 'get', 'svc', '-l', 'app=web', '-o', 'name')).stdout, 'service/web\n');
    assert.equal(ok(await on(a, 'get', 'svc', '-l', 'tier in (front,back),app!=web', '-o', 'name')).stdout, 'service/db\n');
    assert.equal(ok(await on(a, 'get', 'svc', '-l', '!tier', '-o', 'name')).stderr, 'No services found.\n');
    let tasks: Task[] = [];
    for (let i = 0; i < 100 && tasks.length < 3; i++) {
      tasks = (JSON.parse(ok(await on(a, 'get', 'tasks', '-o', 'json')).stdout) as { items: Task[] }).items;
      if (tasks.length < 3) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(tasks.length, 3, 'the orchestrator created the tasks');
    const dbTasks = ok(await on(a, 'get', 'tasks', '-l', 'app=db', '-o', 'name')).stdout.trim().split('\n');
    assert.deepEqual(dbTasks.map((t) => t.replace(/^task\/(db)\.1\..*$/, '$1')), ['db']);

    const json = JSON.parse(ok(await on(a, 'get', 'svc', '-l', 'app=web', '-o', 'json')).stdout) as { items: ServiceView[] };
    assert.deepEqual(json.items.map((s) => s.metadata.name), ['web']);
    const yaml = parseYaml(ok(await on(a, 'get', 'svc', 'web', '-o', 'yaml')).stdout) as ServiceView;
    assert.equal(yaml.spec.replicas, 2);
    assert.equal(ok(await on(a, 'get', 'svc', 'web', '-o', 'jsonpath={.metadata.labels.tier}')).stdout, 'front\n');
    assert.equal(ok(await on(a, 'get', 'svc', '-o', 'jsonpath={.items[*].metadata.name}')).stdout, 'db web\n');
    const table = ok(await on(a, 'get', 'svc')).stdout.split('\n');
    assert.match(table[0] ?? '', /^NAME\s+MODE\s+REPLICAS\s.*IMAGE\s+AGE$/, 'aligned, sorted table');
    assert.match(table[1] ?? '', /^db\s+replicated\s+0\/1\s.*berth\/none:1\s+\d+s$/);
    assert.match(table[2] ?? '', /^web\s+replicated\s+0\/2\s/);
    assert.equal(table[1]?.indexOf('replicated'), table[0]?.indexOf('MODE'), 'columns line up');
    const wide = ok(await on(a, 'get', 'svc', '-o', 'wide', '--no-headers')).stdout.split('\n');
    assert.match(wide[0] ?? '', /^db\s+replicated/);
    assert.equal(wide.filter(Boolean).length, 2);
  });

  it('diff exits 0 without changes, 1 with changes (per field), 2 on a bad manifest', async () => {
    const same = file('same.yaml', service('web', { app: 'web', tier: 'front' }, 2));
    const r0 = await on(a, 'diff', '-f', same);
    assert.deepEqual([r0.code, r0.stdout, r0.stderr], [0, '', '']);
    const changed = file('changed.yaml', [service('web', { app: 'web', tier: 'front' }, 5), '---', service('cache', { app: 'cache' }, 1)].join('\n'));
    const r1 = await on(a, 'diff', '-f', changed);
    assert.equal(r1.code, 1, r1.stderr);
    assert.equal(
      r1.stdout,
      [
        'service/web changed',
        '  spec.replicas: 2 -> 5',
        'service/cache created',
        '  + metadata.labels.app: "cache"',
        '  + spec.image: "berth/none:1"',
        '  + spec.replicas: 1',
        '',
      ].join('\n'),
    );
    const r2 = await on(a, 'diff', '-f', file('bad.yaml', service('web', {}, -1)));
    assert.equal(r2.code, 2);
    assert.equal(r2.stderr.trim().split('\n').length, 1, r2.stderr);
  });

  it('apply --dry-run=server plans but writes nothing', async () => {
    const before = await services(a);
    const f = file('dry.yaml', [service('web', { app: 'web', tier: 'front' }, 7), '---', service('newsvc', { app: 'n' }, 1)].join('\n'));
    const r = ok(await on(a, 'apply', '-f', f, '--dry-run=server'));
    assert.equal(r.stdout, 'service/web configured (server dry run)\nservice/newsvc created (server dry run)\n');
    const after = await services(a);
    assert.deepEqual(
      after.map((s) => [s.metadata.name, s.metadata.version, s.spec.replicas]),
      before.map((s) => [s.metadata.name, s.metadata.version, s.spec.replicas]),
      'same services, same versions, same replicas',
    );
    assert.equal(ok(await on(a, 'apply', '-f', f, '--dry-run=client')).stdout, 'service/web valid (client dry run)\nservice/newsvc valid (client dry run)\n');
  });

  it('contexts: merge two servers, switch with use-context and --context', async () => {
    assert.equal(ok(await withCfg('config', 'merge', a.configPath, '--name', 'a')).stdout, `context "a" merged from ${a.configPath} (current)\n`);
    ok(await withCfg('config', 'merge', b.configPath, '--name', 'b'));
    assert.equal(ok(await withCfg('get', 'svc', '-o', 'name')).stdout, 'service/db\nservice/web\n');
    assert.equal(ok(await withCfg('config', 'use-context', 'b')).stdout, 'switched to context "b"\n');
    assert.equal(ok(await withCfg('get', 'svc', '-o', 'name')).stderr, 'No services found.\n', 'server b has none');
    assert.equal(ok(await withCfg('--context', 'a', 'get', 'svc', 'web', '-o', 'name')).stdout, 'service/web\n');
    const list = ok(await withCfg('config', 'get-contexts')).stdout;
    assert.match(list, new RegExp(`^CURRENT\\s+NAME\\s+SERVER\\n\\s+a\\s+${a.url}\\n\\*\\s+b\\s+${b.url}\\n$`));
    assert.doesNotMatch(ok(await withCfg('config', 'view')).stdout, new RegExp(a.token));
  });

  it('delete -l deletes exactly the matching services', async () => {
    assert.equal(ok(await on(a, 'delete', 'services', '-l', 'tier=back')).stdout, 'service/db deleted\n');
    assert.deepEqual((await services(a)).map((s) => s.metadata.name), ['web']);
  });

  it('errors: one line each, exit 3 unreachable, 4 bad token, 5 not found, 6 stale version', async () => {
    const down = await runBerth(['get', 'svc', '--server', `http://127.0.0.1:${await freePort()}`, '--token', 'x']);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /^error: cannot reach the server at http:\/\/127\.0\.0\.1:\d+: connection refused .*\n$/);
    const badToken = await on(a, 'get', 'svc', '--token', 'wrong');
    assert.deepEqual([badToken.code, badToken.stderr], [4, `error: unauthorized by ${a.url}: the token from --token was rejected\n`]);
    const missing = await on(a, 'get', 'svc', 'nope');
    assert.equal(missing.code, 5);
    assert.equal(missing.stderr.split('\n').filter(Boolean).length, 1);
    const version = (await services(a)).find((s) => s.metadata.name === 'web')?.metadata.version ?? 0;
    ok(await on(a, 'scale', 'svc/web=3'));
    const stale = await on(a, 'apply', '-f', file('stale.yaml', service('web', { app: 'web' }, 4, `  version: ${version}`)));
    assert.equal(stale.code, 6, stale.stderr);
    assert.match(stale.stderr, /^error: service "web": version \d+ is not the current version \(\d+\)\n$/);
  });
});
