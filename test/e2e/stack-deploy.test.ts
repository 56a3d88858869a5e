// Stacks end to end: `berth stack deploy` of a compose file to a real server and docker agent;
// the containers get what the file says (user, working dir, init, capabilities, labels, env from
// .env and the environment); a second deploy with one change rolls only that service; a service
// dropped from the file is kept (and said so) until --prune; ls/services/ps show the stack; rm
// leaves no service, task or container behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, docker, ensureTestImages, removeContainersOfNodes, WEB_IMAGE } from '../helpers/docker.js';

const compose = (greeting: string, withWorker = true) => `
x-common: &common
  stop_grace_period: 1s
  labels:
    com.example.stack: demo
services:
  web:
    <<: *common
    image: ${WEB_IMAGE}
    ports: ["8080"]
    environment:
      GREETING: \${GREETING:-unset}
    deploy:
      replicas: 2
  ${withWorker ? `worker:
    <<: *common
    image: ${BUSYBOX_IMAGE}
    command: sh -c 'echo "$$GREETING from $$(id -u) in $$(pwd)"; sleep 600'
    user: "1234"
    working_dir: /tmp
    init: true
    cap_drop: [ALL]
    environment:
      - GREETING=${greeting}
      - FROM_DOTENV=\${DOTENV_VALUE?set in .env}
    restart: always
    depends_on: [web]` : ''}
`;

interface Inspected {
  Config: { User: string; WorkingDir: string; Env: string[]; Labels: Record<string, string> };
  HostConfig: { Init: boolean | null; CapDrop: string[] | null };
}

describe('e2e: berth stack deploy of a compose file', function () {
  this.timeout(300_000);
  const nodeName = `e2e-${randomBytes(3).toString('hex')}-stack`;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-stack-'));
  const file = path.join(dir, 'compose.yaml');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath, env: { GREETING: undefined } });
  const running = async (service: string, n: number): Promise<Task[]> =>
    (await eventually(async () => {
      const tasks = (await listTasks(server!, '--service', service)).filter((t) => t.desiredState === 'running' && t.status.state === 'running');
      return tasks.length === n ? tasks : undefined;
    }, 90_000, `${n} running tasks of ${service}`))!;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    writeFileSync(path.join(dir, '.env'), 'DOTENV_VALUE=from-dotenv\n');
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '4', memory: '2Gi' });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('convert prints the manifests and the objects, the report on stderr; --strict fails on a report', async () => {
    writeFileSync(file, `${compose('hello')}    container_name: w1\n`);
    const r = ok(await berth('stack', 'convert', '-c', file, 'demo'));
    assert.match(r.stderr, /^ignored: container_name \(service worker\): /m);
    const docs = r.stdout.split('\n---\n');
    assert.equal(docs.length, 3, r.stdout);
    assert.match(docs[0]!, /^apiVersion: berth\/v1\nkind: Service\nmetadata:\n  name: demo-web\n/);
    assert.match(docs[1]!, /name: demo-worker[\s\S]*dependsOn:\n    - service: demo-web\n      condition: started/);
    assert.match(docs[2]!, /^# to create\nkind: Network\nname: demo_default/);
    const strict = await berth('stack', 'convert', '--strict', '-c', file, 'demo');
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /--strict: 1 key\(s\) not honoured/);
    assert.equal(strict.stdout, '');
  });

  it('deploys every service as <stack>-<service>, with what the file says on the containers', async () => {
    writeFileSync(file, compose('hello'));
    const r = ok(await berth('stack', 'deploy', '-c', file, 'demo'));
    assert.match(r.stdout, /service\/demo-web created/);
    assert.match(r.stdout, /service\/demo-worker created/);
    assert.match(r.stderr, /warning: networks: not applied/);
    await running('demo-web', 2);
    const [worker] = await running('demo-worker', 1);
    const c = (JSON.parse(await docker('inspect', worker!.status.containerId!)) as Inspected[])[0]!;
    assert.equal(c.Config.User, '1234');
    assert.equal(c.Config.WorkingDir, '/tmp');
    assert.equal(c.HostConfig.Init, true);
    assert.deepEqual(c.HostConfig.CapDrop, ['ALL']);
    assert.equal(c.Config.Labels['com.example.stack'], 'demo');
    assert.ok(c.Config.Env.includes('FROM_DOTENV=from-dotenv'), '.env beside the file is read');
    const logs = (await eventually(async () => {
      const out = ok(await berth('logs', `service/demo-worker`)).stdout;
      return out.includes('hello from') ? out : undefined;
    }, 30_000, 'the worker\'s first line')) ?? '';
    assert.match(logs, /hello from 1234 in \/tmp/, '$$ stays a literal $ for the shell');
  });

  it('ls, services and ps show the stack', async () => {
    const ls = ok(await berth('stack', 'ls')).stdout.split('\n');
    assert.match(ls[1] ?? '', /^demo +2 +3\/3 +/);
    const services = ok(await berth('stack', 'services', 'demo')).stdout;
    assert.match(services, /demo-web +web +replicated +2\/2 +berth\/web:latest/);
    assert.match(services, /demo-worker +worker +replicated +1\/1 +berth\/busybox/);
    const ps = ok(await berth('stack', 'ps', 'demo')).stdout.split('\n').slice(1);
    assert.equal(ps.filter((l) => / running +running /.test(l)).length, 3, ps.join('\n'));
  });

  it('deploying again with one change rolls only the changed service', async () => {
    const webBefore = (await running('demo-web', 2)).map((t) => t.id).sort();
    writeFileSync(file, compose('bonjour'));
    const r = ok(await berth('stack', 'deploy', '-c', file, 'demo'));
    assert.match(r.stdout, /service\/demo-web unchanged/);
    assert.match(r.stdout, /service\/demo-worker configured/);
    await eventually(async () => {
      const out = ok(await berth('logs', 'service/demo-worker')).stdout;
      return out.includes('bonjour from 1234') ? out : undefined;
    }, 60_000, 'the new worker');
    assert.deepEqual((await running('demo-web', 2)).map((t) => t.id).sort(), webBefore, 'the web tasks were not replaced');
  });

  it('a service dropped from the file is reported, then deleted with --prune', async () => {
    writeFileSync(file, compose('bonjour', false));
    const kept = ok(await berth('stack', 'deploy', '-c', file, 'demo'));
    assert.match(kept.stdout, /service\/demo-worker is no longer in the stack's files \(kept; --prune deletes it\)/);
    assert.ok(ok(await berth('get', 'services', 'demo-worker')));
    const pruned = ok(await berth('stack', 'deploy', '--prune', '-c', file, 'demo'));
    assert.match(pruned.stdout, /service\/demo-worker deleted/);
    assert.match((await berth('get', 'services', 'demo-worker')).stderr, /not found/);
  });

  it('a file that cannot be deployed changes nothing', async () => {
    writeFileSync(file, `${compose('x')}\n  api:\n    build: ./api\n`);
    const r = await berth('stack', 'deploy', '-c', file, 'demo');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /compose\.yaml:\d+ services\.api: has build: and no image/);
    assert.match((await berth('get', 'services', 'demo-worker')).stderr, /not found/, 'nothing was applied');
  });

  it('rm removes every service of the stack, and its containers go', async () => {
    const r = ok(await berth('stack', 'rm', 'demo'));
    assert.match(r.stdout, /service\/demo-web deleted/);
    assert.equal(ok(await berth('stack', 'ls')).stdout.split('\n').filter((l) => l.startsWith('demo ')).length, 0);
    await eventually(async () => ((await containersOfNode(nodeName, { running: true })).length === 0 ? true : undefined), 60_000, 'no container running');
    assert.equal((await berth('stack', 'ps', 'demo')).code, 1);
  });
});
