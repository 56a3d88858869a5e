import assert from 'node:assert/strict';
import { DockerDriver } from '../../agent/driver/docker.js';
import { Label } from '../../agent/driver/driver.js';
import type { ServiceSpec, Task } from '../../common/types.js';
import { taskFromProto, taskToProto } from '../../proto/convert.js';
import { loadBerthProto } from '../../proto/load.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, makeTask, removeContainersOfNode, testNodeName } from '../helpers/docker.js';
import { silentLogger } from '../helpers/etcd.js';

// The task as the agent receives it: through the dispatcher's real wire encoding.
const session = loadBerthProto().Dispatcher.service.Session;
const overTheWire = (task: Task): Task => {
  const msg = session.responseDeserialize(session.responseSerialize({ changes: { upserts: [taskToProto(task)], removedTaskIds: [] } }));
  return taskFromProto(msg.changes!.upserts[0]!);
};

interface Inspected {
  Config: { User: string; WorkingDir: string; Hostname: string; Tty: boolean; StopSignal?: string; Entrypoint: string[]; Cmd: string[]; Labels: Record<string, string> };
  HostConfig: {
    Init: boolean | null;
    ReadonlyRootfs: boolean;
    CapAdd: string[] | null;
    CapDrop: string[] | null;
    Sysctls?: Record<string, string>;
    Ulimits: { Name: string; Soft: number; Hard: number }[] | null;
    LogConfig: { Type: string; Config: Record<string, string> };
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
  };
}

describe('docker driver: container options of the spec (real Docker Engine)', function () {
  const nodeName = testNodeName('opts');
  let driver: DockerDriver;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    driver = new DockerDriver({ nodeName, logger: silentLogger });
  });
  after(() => removeContainersOfNode(nodeName));

  it('runs the container with the user, working dir, hostname, init, tty, read-only root, capabilities, sysctls, ulimits, stop signal, log options and labels', async () => {
    const options: Partial<ServiceSpec> = {
      command: ['/bin/sh', '-c'],
      args: ['id -u; id -g; pwd; hostname; touch /x 2>/dev/null && echo writable || echo read-only; sleep 60'],
      user: '1234:5678',
      workingDir: '/tmp',
      hostname: 'berth-opts',
      init: true,
      tty: true,
      readOnly: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      sysctls: { 'net.ipv4.ip_unprivileged_port_start': '1024' },
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      stopSignal: 'SIGQUIT',
      logging: { driver: 'json-file', options: { 'max-size': '1m' } },
      containerLabels: { 'com.example.team': 'shop', 'traefik.http.routers.x.rule': 'Host(`x.example`)' },
      ports: [{ containerPort: 8080, hostIp: '127.0.0.1' }],
    };
    const task = overTheWire(makeTask({ image: BUSYBOX_IMAGE, ...options }));
    const id = await driver.create(task);
    await driver.start(id);
    const c = (JSON.parse(await docker('inspect', id)) as Inspected[])[0]!;
    assert.equal(c.Config.User, '1234:5678');
    assert.equal(c.Config.WorkingDir, '/tmp');
    assert.equal(c.Config.Hostname, 'berth-opts');
    assert.equal(c.Config.Tty, true);
    assert.equal(c.Config.StopSignal, 'SIGQUIT');
    assert.deepEqual(c.Config.Entrypoint, ['/bin/sh', '-c']);
    assert.equal(c.HostConfig.Init, true);
    assert.equal(c.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(c.HostConfig.CapAdd, ['NET_ADMIN']);
    assert.deepEqual(c.HostConfig.CapDrop, ['MKNOD']);
    assert.deepEqual(c.HostConfig.Sysctls, { 'net.ipv4.ip_unprivileged_port_start': '1024' });
    assert.deepEqual(c.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    assert.deepEqual(c.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m' } });
    assert.equal(c.HostConfig.PortBindings['8080/tcp']?.[0]?.HostIp, '127.0.0.1');
    assert.equal(c.Config.Labels['com.example.team'], 'shop');
    assert.equal(c.Config.Labels['traefik.http.routers.x.rule'], 'Host(`x.example`)');
    assert.equal(c.Config.Labels[Label.Task], task.id, 'Berth\'s own labels are kept beside the service\'s');
    // What the process sees: its user and group, working dir, hostname and a read-only root.
    let out = '';
    for (let i = 0; i < 50 && !out.includes('read-only') && !out.includes('writable'); i++) {
      out = await docker('logs', id);
      if (!out.includes('only') && !out.includes('writable')) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(out.replace(/\r/g, '').trim().split('\n'), ['1234', '5678', '/tmp', 'berth-opts', 'read-only']);
  });
});
