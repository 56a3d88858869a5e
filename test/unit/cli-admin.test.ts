import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { COMMANDS } from '../../cli/registry.js';
import { isDaemon } from '../../cli/command.js';
import { API_ROUTES, runCli, webService, type Recorded } from '../helpers/berth.js';

describe('cli admin verbs (in-process, fake API)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-admin-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = (name: string, replicas: number) =>
    `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: ${name}\n  labels: { app: web }\nspec:\n  image: berth/web:1\n  replicas: ${replicas}\n`;

  it('get -l selects services by labels and tasks by their service labels', async () => {
    const svc = await runCli(['get', 'svc', '-l', 'app=web', '-o', 'name']);
    assert.deepEqual([svc.code, svc.stdout], [0, 'service/web\n']);
    const none = await runCli(['get', 'svc', '-l', 'app notin (web)', '-o', 'name']);
    assert.deepEqual([none.stdout, none.code], ['service/log-agent\n', 0]);
    const tasks = await runCli(['get', 'tasks', '-l', '!app', '-o', 'name']);
    assert.equal(tasks.stdout, '', 'the tasks all belong to web, which has app');
    const nodes = await runCli(['get', 'nodes', '-l', 'zone in (a,b),disk=ssd', '--no-headers']);
    assert.match(nodes.stdout, /^node-1\s+ready\s+active/);
    const empty = await runCli(['get', 'nodes', '-l', 'zone=z']);
    assert.deepEqual([empty.stdout, empty.stderr], ['', 'No nodes found matching "zone=z".\n']);
    const both = await runCli(['get', 'svc', 'web', '-l', 'app=web']);
    assert.equal(both.code, 2);
    const bad = await runCli(['get', 'svc', '-l', 'app in (web']);
    assert.deepEqual([bad.code, bad.stderr], [1, 'error: invalid selector "app in (web": missing ")"\n']);
  });

  it('-o jsonpath on a list, on one object, and --no-headers on tables', async () => {
    const names = await runCli(['get', 'svc', '-o', 'jsonpath={.metadata.name}']);
    assert.equal(names.stdout, 'log-agent\nweb\n', 'one line per item, sorted by name');
    const items = await runCli(['get', 'svc', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.image}{"\\n"}{end}']);
    assert.equal(items.stdout, 'log-agent=berth/busybox\nweb=berth/web:1\n');
    const one = await runCli(['get', 'svc', 'web', '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(one.stdout, '6\n');
    const table = await runCli(['get', 'svc', '--no-headers']);
    assert.equal(table.stdout.split('\n')[0]?.startsWith('log-agent'), true);
    assert.equal(table.stdout.includes('NAME'), false);
  });

  it('delete -l deletes each matching service', async () => {
    const log: Recorded[] = [];
    const routes = { ...API_ROUTES, 'DELETE /v1/services/web': [200, { name: 'web', deleted: true }] as [number, unknown] };
    const r = await runCli(['delete', 'services', '-l', 'app=web'], { routes, log });
    assert.deepEqual([r.code, r.stdout], [0, 'service/web deleted\n']);
    assert.deepEqual(log.filter((l) => l.method === 'DELETE').map((l) => l.path), ['/v1/services/web']);
    const none = await runCli(['delete', '-l', 'app=nothing'], { routes });
    assert.deepEqual([none.code, none.stderr], [0, 'No services found matching "app=nothing".\n']);
  });

  it('apply --dry-run=server sends dryRun and says so; client validates without the server', async () => {
    const file = path.join(dir, 'web.yaml');
    writeFileSync(file, manifest('web', 3));
    const log: Recorded[] = [];
    const routes = { 'POST /v1/apply': [200, { items: [{ kind: 'Service', name: 'web', action: 'configured' }] }] as [number, unknown] };
    const server = await runCli(['apply', '-f', file, '--dry-run=server'], { routes, log });
    assert.deepEqual([server.code, server.stdout], [0, 'service/web configured (server dry run)\n']);
    assert.equal((log[0]?.body as { dryRun?: boolean }).dryRun, true);
    const clientLog: Recorded[] = [];
    const client = await runCli(['apply', '-f', file, '--dry-run=client'], { routes, log: clientLog });
    assert.deepEqual([client.code, client.stdout, clientLog.length], [0, 'service/web valid (client dry run)\n', 0]);
    assert.equal((await runCli(['apply', '-f', file, '--dry-run=maybe'])).code, 2);
    const conflict = await runCli(['apply', '-f', file], { routes: { 'POST /v1/apply': [409, { error: 'Conflict', message: 'service "web": version 3 is not the current version (9)' }] } });
    assert.deepEqual([conflict.code, conflict.stderr], [6, 'error: service "web": version 3 is not the current version (9)\n']);
  });

  it('diff: 0 without changes, 1 with changes, 2 on error, 3 when unreachable', async () => {
    const same = path.join(dir, 'same.yaml');
    writeFileSync(same, `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: web\n  labels: { app: web }\nspec: ${JSON.stringify(webService.spec)}\n`);
    const r0 = await runCli(['diff', '-f', same]);
    assert.deepEqual([r0.code, r0.stdout, r0.stderr], [0, '', '']);
    const changed = path.join(dir, 'changed.yaml');
    writeFileSync(changed, `${manifest('web', 3)}---\n${manifest('api', 1)}`);
    const r1 = await runCli(['diff', '-f', changed]);
    assert.equal(r1.code, 1);
    assert.match(r1.stdout, /^service\/web changed\n/);
    assert.match(r1.stdout, /\n {2}spec\.replicas: 6 -> 3\n/);
    assert.match(r1.stdout, /\n {2}- spec\.env\.MODE: "prod"\n/);
    assert.match(r1.stdout, /\nservice\/api created\n {2}\+ metadata\.labels\.app: "web"\n/);
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, manifest('web', -1));
    const r2 = await runCli(['diff', '-f', bad]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /^error: .*spec\.replicas/);
    assert.equal((await runCli(['diff'])).code, 2);
    const down = await runCli(['diff', '-f', same], { io: { fetch: () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })) } });
    assert.equal(down.code, 3);
  });

  it('every command has --help with an example, and help exits 0', async () => {
    for (const c of COMMANDS) {
      assert.ok(c.examples.length > 0, `${c.name} has an example`);
      if (isDaemon(c)) continue;
      const r = await runCli([c.name, '--help']);
      assert.equal(r.code, 0, c.name);
      assert.match(r.stdout, /\nExamples:\n {2}\S/, c.name);
    }
  });

  it('completion prints bash and zsh scripts naming verbs, kinds and flags', async () => {
    const bash = await runCli(['completion', 'bash']);
    assert.equal(bash.code, 0);
    for (const word of ['complete -o default -F _berth berth', 'apply', 'diff', 'services tasks nodes', '--selector', '--dry-run', 'get "$1" -o name']) {
      assert.ok(bash.stdout.includes(word), word);
    }
    const zsh = await runCli(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef berth\n/);
    assert.match(zsh.stdout, /bashcompinit/);
    const fish = await runCli(['completion', 'fsh']);
    assert.equal(fish.code, 2);
  });

  it('typos get a suggestion: verbs, kinds, flags', async () => {
    assert.match((await runCli(['aply'])).stderr, /^error: unknown command "aply": did you mean "apply"\?\n/);
    assert.match((await runCli(['get', 'sevrices'])).stderr, /^error: unknown resource type "sevrices": did you mean "services"\?\n/);
    assert.match((await runCli(['get', 'svc', '--selecter', 'a'])).stderr, /^error: unknown flag "--selecter": did you mean "--selector"\?\n/);
  });
});
