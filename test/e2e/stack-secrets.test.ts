// A stack's file secret and named volume, end to end: `stack deploy` creates the secret from a
// file beside the compose file (`<stack>-<name>`), the service reads it through
// `DB_PASSWORD_FILE=/run/secrets/db_password` and keeps data on the named volume; a missing
// external secret, or an apply the server refuses, leaves nothing created; `stack rm` removes the
// secret it created and keeps the volume unless `--volumes`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, containersOfNode, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

const suffix = randomBytes(3).toString('hex');
const STACK = `sec${suffix}`;
const compose = (extra = '') => `
services:
  db:
    image: ${BUSYBOX_IMAGE}
    command: sh -c 'cat "$$DB_PASSWORD_FILE" >> /data/seen; echo >> /data/seen; sleep 600'
    stop_grace_period: 1s
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes: [data:/data]
${extra}
secrets:
  db_password:
    file: ./db_password.txt
volumes:
  data:
`;

describe('e2e: a stack\'s file secrets and named volumes', function () {
  this.timeout(300_000);
  const nodeName = `e2e-${suffix}-stsec`;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-stsec-'));
  const file = path.join(dir, 'compose.yaml');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const secretNames = async () => ok(await berth('secret', 'ls', '-o', 'json')).stdout && (JSON.parse(ok(await berth('secret', 'ls', '-o', 'json')).stdout) as { items: { name: string }[] }).items.map((s) => s.name);
  const volumeNames = async () => (JSON.parse(ok(await berth('volume', 'ls', '-o', 'json')).stdout) as { items: { name: string }[] }).items.map((v) => v.name);
  const runningDb = async (): Promise<Task> =>
    (await eventually(async () => (await listTasks(server!, '--service', `${STACK}-db`)).find((t) => t.desiredState === 'running' && t.status.state === 'running' && t.status.containerId), 90_000, 'the db running'))!;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    writeFileSync(path.join(dir, 'db_password.txt'), 'p4ssw0rd');
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '4', memory: '2Gi' });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    if (server) await berth('stack', 'rm', '--volumes', STACK).catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    await docker('volume', 'rm', '-f', `${STACK}-data`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a missing external secret, or an apply the server refuses, leaves nothing created', async () => {
    writeFileSync(file, compose('    deploy: { replicas: 1 }\n  cache:\n    image: x\n    secrets: [outside]\n').replace('secrets:\n  db_password:', 'secrets:\n  outside:\n    external: true\n  db_password:'));
    const missing = await berth('stack', 'deploy', '-c', file, STACK);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /secret outside: external secret "outside" does not exist/);
    writeFileSync(file, compose(`  peek:\n    image: ${BUSYBOX_IMAGE}\n    volumes: ["/etc:/host-etc:ro"]\n`));
    const refused = await berth('stack', 'deploy', '-c', file, STACK);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /hostPath: \/etc is outside the bind-mount allow-list/);
    assert.ok(!(await secretNames()).includes(`${STACK}-db_password`), 'the secret created for the refused deploy is gone');
    assert.equal((await berth('stack', 'ps', STACK)).code, 1, 'no service');
  });

  it('deploy creates the secret; the service reads it through *_FILE and keeps data on the named volume', async () => {
    writeFileSync(file, compose());
    const r = ok(await berth('stack', 'deploy', '-c', file, STACK));
    assert.match(r.stdout, new RegExp(`secret/${STACK}-db_password created`));
    assert.ok((await secretNames()).includes(`${STACK}-db_password`));
    const db = await runningDb();
    const seen = await eventually(async () => {
      const out = (await docker('exec', db.status.containerId!, 'cat', '/data/seen').catch(() => '')).trim();
      return out ? out : undefined;
    }, 30_000, 'the db read its secret');
    assert.equal(seen, 'p4ssw0rd');
    assert.ok((await volumeNames()).includes(`${STACK}-data`));
    // Deploying again with the same files changes nothing, the secret included.
    const again = ok(await berth('stack', 'deploy', '-c', file, STACK));
    assert.doesNotMatch(again.stdout, /secret\//);
    assert.match(again.stdout, /unchanged/);
  });

  it('rm removes the secret it created and keeps the volume; rm --volumes removes the volume', async () => {
    const rm = ok(await berth('stack', 'rm', STACK));
    assert.match(rm.stdout, new RegExp(`secret/${STACK}-db_password removed`));
    assert.ok(!(await secretNames()).includes(`${STACK}-db_password`));
    await eventually(async () => ((await containersOfNode(nodeName)).length === 0 ? true : undefined), 60_000, 'no container left');
    assert.ok((await volumeNames()).includes(`${STACK}-data`), 'the volume is kept');

    ok(await berth('stack', 'deploy', '-c', file, STACK));
    const db = await runningDb();
    const twice = await eventually(async () => {
      const out = (await docker('exec', db.status.containerId!, 'cat', '/data/seen').catch(() => '')).trim();
      return out.split('\n').length === 2 ? out : undefined;
    }, 30_000, 'the data kept on the volume');
    assert.equal(twice, 'p4ssw0rd\np4ssw0rd');
    const rmAll = ok(await berth('stack', 'rm', '--volumes', STACK));
    assert.match(rmAll.stdout, new RegExp(`volume/${STACK}-data removed from node ${nodeName}`));
    await eventually(async () => (!(await volumeNames()).includes(`${STACK}-data`) ? true : undefined), 30_000, 'the volume gone');
    assert.equal((await docker('volume', 'ls', '-q', '--filter', `name=^${STACK}-data$`)).trim(), '');
  });
});
