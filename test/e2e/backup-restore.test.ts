// Backup and restore, end to end (real embedded etcd, real server, a docker agent): a cluster with
// two services, a secret and a rollout history is backed up with `berth cluster backup`; the
// server is stopped and its data dir (with its etcd data) destroyed; `berth server --restore` on a
// new data dir brings back `get services`, `rollout history` and the secret (a new task reads its
// value), and the agent reconnects with its certificate and keeps its containers (same ids, same
// start times). A wrong passphrase and a truncated file are refused with nothing written; the
// backup holds none of the secrets in clear.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listNodes, listTasks, ok, runBerth, spawnBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { freePort } from '../../control-plane/etcd/embedded.js';

interface Started {
  id: string;
  startedAt: string;
}

async function startedOf(containerId: string): Promise<Started> {
  const [c] = JSON.parse(await docker('inspect', containerId)) as { Id: string; State: { StartedAt: string } }[];
  return { id: c!.Id, startedAt: c!.State.StartedAt };
}

describe('e2e backup and restore: a destroyed server comes back from its backup, agents keep their containers', function () {
  this.timeout(300_000);
  const node = testNodeName('e2e-bak');
  const secret = `db-${randomBytes(3).toString('hex')}`;
  const value = `v-${randomBytes(12).toString('hex')}`;
  const passphrase = `correct horse ${randomBytes(6).toString('hex')}`;
  const work = mkdtempSync(path.join(tmpdir(), 'berth-backup-e2e-'));
  const passFile = path.join(work, 'pass');
  const wrongFile = path.join(work, 'wrong');
  const backupFile = path.join(work, 'cluster.bbk');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let apiPort = 0;
  let agentPort = 0;
  const berth = (args: string[], input?: string) => runBerth(args, { config: server!.configPath, ...(input !== undefined ? { input } : {}) });
  const app = (env: string) =>
    serviceManifest(
      'app',
      [`image: ${BUSYBOX_IMAGE}`, 'command: ["sleep", "3600"]', 'replicas: 2', 'stopGracePeriodSeconds: 1', `env: { STAGE: "${env}" }`, 'update:', '  monitorSeconds: 1', 'secrets:', `  - source: ${secret}`].join('\n'),
    );
  const other = serviceManifest('other', [`image: ${BUSYBOX_IMAGE}`, 'command: ["sleep", "3600"]', 'replicas: 1', 'stopGracePeriodSeconds: 1'].join('\n'));
  const runningTasks = async (): Promise<Task[]> => (await listTasks(server!)).filter((t) => t.desiredState === 'running' && t.status.state === 'running' && t.status.containerId);

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });
    writeFileSync(wrongFile, 'not the right passphrase\n', { mode: 0o600 });
    apiPort = await freePort();
    agentPort = await freePort();
    server = await startServer({ ports: { api: apiPort, agent: agentPort } });
    // The agent must not fence its tasks while the control plane is away for the restore.
    agent = startAgent(server, { name: node, runtime: 'docker', extraArgs: ['--fence-after', '600'] });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    await runBerth(['delete', 'service', 'app', 'other'], { config: server?.configPath }).catch(() => undefined);
    await eventually(async () => (await listTasks(server!)).length === 0, 30_000).catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await removeContainersOfNodes([node]);
    await server?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  let servicesBefore: unknown;
  let historyBefore = '';
  let containersBefore: Started[] = [];
  let nodeIdBefore = '';

  it('backs up a cluster with services, a secret and a rollout history into a file with nothing in clear', async () => {
    ok(await berth(['secret', 'create', secret, '-f', '-'], value));
    ok(await berth(['apply', '-f', '-'], app('one')));
    ok(await berth(['apply', '-f', '-'], other));
    await eventually(async () => (await runningTasks()).length === 3, 90_000, `three running tasks; agent said:\n${agent?.logTail()}`);
    ok(await berth(['apply', '-f', '-'], app('two')));
    ok(await berth(['rollout', 'status', 'service', 'app', '--timeout', '120s']));
    await eventually(async () => {
      const tasks = await runningTasks();
      return tasks.length === 3 && tasks.filter((t) => t.serviceName === 'app').every((t) => t.spec.env?.STAGE === 'two');
    }, 90_000, 'the rollout done');
    servicesBefore = JSON.parse(ok(await berth(['get', 'services', '-o', 'json'])).stdout);
    historyBefore = ok(await berth(['rollout', 'history', 'service', 'app'])).stdout;
    assert.match(historyBefore, /\b2\b/);
    containersBefore = await Promise.all((await runningTasks()).map((t) => startedOf(t.status.containerId!)));
    nodeIdBefore = (await listNodes(server!))[0]!.id;

    const backedUp = ok(await berth(['cluster', 'backup', backupFile, '--passphrase-file', passFile]));
    assert.match(backedUp.stdout, /backup written to .*cluster\.bbk \(\d+ bytes\)/);
    const file = readFileSync(backupFile);
    assert.equal(file.subarray(0, 8).toString(), 'BERTHBAK');
    const caKey = readFileSync(path.join(server!.dataDir, 'ca.key'), 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'))[0]!;
    for (const clear of [value, server!.token, caKey, 'services/app', secret]) assert.ok(!file.includes(clear), 'the backup holds something in clear');
    // From standard input too, and a short passphrase is refused.
    const short = await berth(['cluster', 'backup', path.join(work, 'short.bbk')], 'short\n');
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /at least 12 characters/);
    assert.ok(!existsSync(path.join(work, 'short.bbk')));
    // Admin only: an operator is refused, and both calls are in the audit log.
    const operator = ok(await berth(['token', 'create', 'ops', '--role', 'operator'])).stdout.trim();
    const refused = await runBerth(['--token', operator, 'cluster', 'backup', path.join(work, 'op.bbk'), '--passphrase-file', passFile], { config: server!.configPath });
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /role operator lacks permission cluster:backup/);
    assert.ok(!existsSync(path.join(work, 'op.bbk')));
    const audit = ok(await berth(['get', 'audit'])).stdout;
    assert.match(audit, /POST \/v1\/cluster\/backup/);
    assert.ok(!audit.includes(passphrase), 'the passphrase in the audit log');
  });

  it('refuses a wrong passphrase and a truncated file, writing nothing', async () => {
    const truncated = path.join(work, 'truncated.bbk');
    const file = readFileSync(backupFile);
    writeFileSync(truncated, file.subarray(0, Math.floor(file.length / 2)));
    for (const [bak, pass, reason] of [
      [backupFile, wrongFile, /wrong passphrase, or the file is damaged or truncated/],
      [truncated, passFile, /wrong passphrase, or the file is damaged or truncated/],
    ] as const) {
      const dataDir = path.join(work, `refused-${randomBytes(3).toString('hex')}`);
      const port = await freePort();
      const d = spawnBerth(['server', '--no-agent', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--agent-listen', `127.0.0.1:${await freePort()}`, '--restore', bak, '--passphrase-file', pass]);
      const exit = await Promise.race([d.exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 60_000))]);
      if (!exit) await d.stop('SIGKILL');
      assert.equal(exit?.code, 1, `the restore was not refused: ${d.stderr()}`);
      assert.match(d.stderr(), reason);
      assert.ok(!existsSync(dataDir), `the refused restore wrote ${dataDir}`);
    }
  });

  it('restores on a new data dir: services, history and secret as before, the agent reconnects, no container restarted', async () => {
    const tokenBefore = server!.token;
    await server!.stop('SIGTERM'); // removes the data dir, its etcd data with it
    assert.ok(!existsSync(server!.dataDir));
    const dataDir = path.join(work, 'restored');
    server = await startServer({ dataDir, ports: { api: apiPort, agent: agentPort }, extraArgs: ['--restore', backupFile, '--passphrase-file', passFile] });
    // The agent comes back with its certificate, as the same node.
    await eventually(async () => {
      const nodes = await listNodes(server!);
      return nodes.length === 1 && nodes[0]!.id === nodeIdBefore && nodes[0]!.status.state === 'ready';
    }, 90_000, `the node ready again; agent said:\n${agent?.logTail()}`);
    const services = JSON.parse(ok(await berth(['get', 'services', '-o', 'json'])).stdout) as { items: { metadata: Record<string, unknown>; spec: unknown }[] };
    const strip = (v: unknown) => (v as { items: { metadata: Record<string, unknown>; spec: unknown }[] }).items.map((s) => ({ name: s.metadata.name, revision: s.metadata.revision, spec: s.spec }));
    assert.deepEqual(strip(services), strip(servicesBefore));
    const ageless = (t: string) => t.replace(/\b\d+[smhd]\b/g, 'AGE').replace(/ +/g, ' ');
    assert.equal(ageless(ok(await berth(['rollout', 'history', 'service', 'app'])).stdout), ageless(historyBefore));
    // Every task still runs in the container it had.
    const tasks = await eventually(async () => {
      const t = await runningTasks();
      return t.length === 3 ? t : undefined;
    }, 60_000, 'three running tasks');
    const after = await Promise.all(tasks!.map((t) => startedOf(t.status.containerId!)));
    assert.deepEqual(after.sort((a, b) => a.id.localeCompare(b.id)), [...containersBefore].sort((a, b) => a.id.localeCompare(b.id)));
    for (const c of after) assert.equal((await startedOf(c.id)).startedAt, containersBefore.find((b) => b.id === c.id)!.startedAt);
    // A new task gets the secret from the restored server (its restored key opens the value).
    ok(await berth(['scale', 'service', 'app', '--replicas', '3']));
    const added = await eventually(async () => (await runningTasks()).find((t) => t.serviceName === 'app' && !after.some((c) => c.id.startsWith(t.status.containerId!) || t.status.containerId!.startsWith(c.id))), 90_000, `a third app task; agent said:\n${agent?.logTail()}`);
    assert.equal(await docker('exec', added!.status.containerId!, 'cat', `/run/secrets/${secret}`), value);
    // The cluster's admin token is the one it had.
    assert.equal(server.token, tokenBefore);
  });
});
