// Volumes, end to end (real server, real docker agent): a task writes to a named volume, its
// container is killed, and the replacement on the same node reads the data; the service is
// pinned to that node (describe says so); the volume outlives the service until `berth volume
// rm`; a bind mount outside the allow-list is refused at apply, nothing written; a node whose
// own allow-list refuses a path rejects the task, saying why.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NodeVolume, Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { berthJson, listTasks, ok, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes } from '../helpers/docker.js';

describe('e2e workloads: named volumes keep data, bind mounts stay within the allow-list', function () {
  this.timeout(180_000);
  const suffix = randomBytes(3).toString('hex');
  const nodeName = `e2e-${suffix}-vol`;
  const volume = `e2e-${suffix}-data`;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });
  const hostDir = `/var/lib/berth-volumes/e2e-${suffix}`;
  let madeParent = false;
  const manifest = serviceManifest(
    'keeper',
    [
      `image: ${BUSYBOX_IMAGE}`,
      'command: ["sh", "-c", "[ -f /data/mark ] || echo $RANDOM$RANDOM > /data/mark; exec sleep 3600"]',
      'stopGracePeriodSeconds: 1',
      'volumes:',
      `  - name: ${volume}`,
      '    target: /data',
      '  - tmpfs: true',
      '    target: /scratch',
      '    sizeBytes: 1048576',
    ].join('\n'),
  );
  const runningTask = async (exclude?: string): Promise<Task> =>
    (await eventually(async () => {
      const tasks = await listTasks(server!, '--service', 'keeper');
      return tasks.find((t: Task) => t.status.state === 'running' && t.desiredState === 'running' && t.id !== exclude && t.status.containerId);
    }, 90_000, `a running keeper task; agent said:\n${agent?.logTail()}`))!;
  const volumesOf = async () => (await berthJson<{ items: (NodeVolume & { node: string })[] }>(server!, 'volume', 'ls')).items;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    server = await startServer();
    // This node allows less than the server's default list: /srv passes apply, the node rejects it.
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '2', memory: '1Gi', extraArgs: ['--bind-allow', '/var/lib/berth-volumes'] });
    await waitNodesReady(server, [agent]);
  });

  after(async () => {
    await runBerth(['delete', 'service', 'keeper', 'binder', 'narrow', 'conf'], { config: server?.configPath }).catch(() => undefined);
    rmSync(hostDir, { recursive: true, force: true });
    if (madeParent) rmSync(path.dirname(hostDir), { recursive: true, force: true });
    await agent?.stop().catch(() => undefined);
    await server?.stop();
    await removeContainersOfNodes([nodeName]);
    await docker('volume', 'rm', '-f', volume).catch(() => undefined);
  });

  it('a replacement after its container is killed reads what the first task wrote; the service is pinned to the node', async () => {
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: manifest }));
    const first = await runningTask();
    const written = (await docker('exec', first.status.containerId!, 'cat', '/data/mark')).trim();
    assert.match(written, /^\d+$/);
    const mounts = await docker('inspect', '-f', '{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}', first.status.containerId!);
    assert.match(mounts, new RegExp(`volume:${volume}:/data`));
    assert.match(mounts, /tmpfs::\/scratch/);

    const vols = (await eventually(async () => {
      const v = await volumesOf();
      return v.some((x) => x.name === volume && x.inUse) ? v : undefined;
    }, 30_000, 'the volume reported by the agent'))!;
    assert.deepEqual(vols.filter((v) => v.name === volume).map((v) => [v.node, v.service]), [[nodeName, 'keeper']]);
    const described = ok(await berth('describe', 'service', 'keeper')).stdout;
    assert.match(described, new RegExp(`Pinned to:\\s+${nodeName} \\(volume ${volume}\\)`));

    await docker('kill', first.status.containerId!);
    const second = await runningTask(first.id);
    assert.equal(second.nodeId, first.nodeId);
    assert.equal((await docker('exec', second.status.containerId!, 'cat', '/data/mark')).trim(), written, 'the replacement reads the same data');
  });

  it('the volume outlives the service; volume rm is refused while in use, then removes it', async () => {
    const refused = await berth('volume', 'rm', volume);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /in use/);

    ok(await berth('delete', 'service', 'keeper'));
    await eventually(async () => (await listTasks(server!, '--service', 'keeper')).length === 0 || undefined, 60_000, 'the service and its tasks gone');
    await eventually(async () => ((await volumesOf()).some((v) => v.name === volume && !v.inUse) ? true : undefined), 60_000, 'the volume kept, not in use');
    assert.match(await docker('volume', 'ls', '-q'), new RegExp(`^${volume}$`, 'm'));

    const removed = ok(await berth('volume', 'rm', volume));
    assert.match(removed.stdout, new RegExp(`volume/${volume} removed from node ${nodeName}`));
    assert.doesNotMatch(await docker('volume', 'ls', '-q'), new RegExp(`^${volume}$`, 'm'));
    await eventually(async () => (!(await volumesOf()).some((v) => v.name === volume) ? true : undefined), 20_000, 'the volume gone from volume ls');
  });

  it('a bind mount outside the allow-list is refused at apply, naming the field and the reason; nothing is written', async () => {
    const bad = serviceManifest('binder', [`image: ${BUSYBOX_IMAGE}`, 'volumes:', '  - hostPath: /var/run/docker.sock', '    target: /var/run/docker.sock'].join('\n'));
    const r = await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: bad });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec\.volumes\[0\]\.hostPath: \/var\/run\/docker\.sock is outside the bind-mount allow-list \(\/srv, \/var\/lib\/berth-volumes\)/);
    // The server refuses it too (the CLI's check bypassed): a 400 naming the field.
    const res = await server!.fetch(`${server!.url}/v1/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'binder' }, spec: { image: BUSYBOX_IMAGE, volumes: [{ hostPath: '/', target: '/host' }] } }] }),
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /spec\.volumes\[0\]\.hostPath/);
    const services = await berthJson<{ items: { metadata: { name: string } }[] }>(server!, 'get', 'services');
    assert.ok(!services.items.some((s) => s.metadata.name === 'binder'), 'nothing written');
  });

  it('a bind mount within the node\'s list is mounted read-only as asked; one the node\'s own list refuses is rejected, saying why', async () => {
    madeParent = !existsSync(path.dirname(hostDir));
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(`${hostDir}/app.conf`, 'level=debug\n');
    const conf = serviceManifest('conf', [`image: ${BUSYBOX_IMAGE}`, 'command: ["sleep", "3600"]', 'stopGracePeriodSeconds: 1', 'volumes:', `  - hostPath: ${hostDir}`, '    target: /etc/app', '    readOnly: true'].join('\n'));
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: conf }));
    const t = (await eventually(async () => (await listTasks(server!, '--service', 'conf')).find((x) => x.status.state === 'running'), 60_000, 'conf running'))!;
    assert.equal(await docker('exec', t.status.containerId!, 'cat', '/etc/app/app.conf'), 'level=debug');
    await assert.rejects(docker('exec', t.status.containerId!, 'touch', '/etc/app/x'), /Read-only file system/);

    const narrow = serviceManifest('narrow', [`image: ${BUSYBOX_IMAGE}`, 'command: ["sleep", "3600"]', 'volumes:', '  - hostPath: /srv/data', '    target: /data'].join('\n'));
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: narrow }));
    const rejected = (await eventually(async () => (await listTasks(server!, '--service', 'narrow')).find((x) => x.status.state === 'rejected'), 60_000, 'narrow rejected'))!;
    assert.match(rejected.status.message ?? '', new RegExp(`spec\\.volumes\\[0\\]\\.hostPath: /srv/data is outside the bind-mount allow-list \\(/var/lib/berth-volumes\\).* of node ${nodeName}`));
    assert.equal(rejected.status.containerId, undefined, 'no container was created');
    ok(await berth('delete', 'service', 'conf', 'narrow'));
  });
});
