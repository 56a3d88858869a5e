import assert from 'node:assert/strict';
import { DockerDriver } from '../../agent/driver/docker.js';
import { ImageNotPresentError, Label } from '../../agent/driver/driver.js';
import {
  BUSYBOX_IMAGE,
  WEB_IMAGE,
  containersOfNode,
  docker,
  ensureTestImages,
  inspectContainer,
  makeTask,
  removeContainersOfNode,
  shellSpec,
  testNodeName,
} from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

describe('docker driver (real Docker Engine)', function () {
  const nodeName = testNodeName('drv');
  const otherNode = testNodeName('drv-other');
  let driver: DockerDriver;

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    driver = new DockerDriver({ nodeName, logger: silentLogger });
  });
  afterEach(async () => {
    await removeContainersOfNode(nodeName);
    await removeContainersOfNode(otherNode);
  });

  it('runs command + args with the env, and reports the exit code and the last lines of a failing container', async () => {
    const task = makeTask(
      shellSpec('echo "greeting=$GREETING"; i=1; while [ $i -le 30 ]; do echo line-$i; i=$((i+1)); done; exit 3', {
        env: { GREETING: 'hello world' },
      }),
    );
    await driver.ensureImage(task.spec.image);
    const id = await driver.create(task);
    await driver.start(id);
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 3);
    assert.deepEqual(
      exit.lastOutput.split('\n'),
      Array.from({ length: 20 }, (_, i) => `line-${i + 11}`),
      'keeps the last 20 lines',
    );
    const short = makeTask(shellSpec('echo "greeting=$GREETING"', { env: { GREETING: 'hello world' } }));
    const sid = await driver.create(short);
    await driver.start(sid);
    const ok = await driver.wait(sid);
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.lastOutput, 'greeting=hello world');
    const inst = await driver.inspect(sid);
    assert.equal(inst?.running, false);
    assert.equal(inst?.exitCode, 0);
    // The Engine keeps stdout and stderr apart (their relative order is not kept): both count.
    const err = makeTask(shellSpec('echo to-stderr >&2; exit 5'));
    const eid = await driver.create(err);
    await driver.start(eid);
    assert.deepEqual(await driver.wait(eid), { exitCode: 5, lastOutput: 'to-stderr' });
  });

  it('publishes a port on a free host port that serves berth/web', async () => {
    const task = makeTask({ image: WEB_IMAGE, ports: [{ containerPort: 8080 }] });
    const id = await driver.create(task);
    await driver.start(id);
    const inst = await driver.inspect(id);
    assert.ok(inst?.running);
    assert.equal(inst.hostPorts.length, 1);
    const hp = inst.hostPorts[0]!;
    assert.equal(hp.containerPort, 8080);
    assert.equal(hp.protocol, 'tcp');
    assert.ok(hp.hostPort > 0);
    const body = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${hp.hostPort}/`);
      return res.status === 200 ? res.text() : '';
    }, 10_000, 'HTTP 200 from berth/web');
    assert.ok(body.includes(id.slice(0, 12)), 'the page names the container hostname');
    await driver.stop(id, 10);
    assert.equal((await driver.inspect(id))?.running, false);
  });

  it('sets resource limits, the container name and the berth labels', async () => {
    const task = makeTask(shellSpec('sleep 60'), { service: 'limits', slot: 2 });
    task.spec.resources = { memory: '64Mi', cpu: '250m' };
    const id = await driver.create(task);
    const c = await inspectContainer(id);
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(c.HostConfig.NanoCpus, 250_000_000);
    assert.equal(c.Name, `/${task.name}`);
    assert.deepEqual(c.Config.Entrypoint, ['/bin/sh', '-c']);
    assert.deepEqual(c.Config.Cmd, ['sleep 60']);
    assert.deepEqual(
      {
        task: c.Config.Labels[Label.Task],
        name: c.Config.Labels[Label.TaskName],
        service: c.Config.Labels[Label.Service],
        slot: c.Config.Labels[Label.Slot],
        node: c.Config.Labels[Label.Node],
      },
      { task: task.id, name: task.name, service: 'limits', slot: '2', node: nodeName },
    );
    // Creating the same task again finds its container instead of making a twin.
    assert.equal(await driver.create(task), id);
    assert.equal((await containersOfNode(nodeName)).length, 1);
  });

  it('stops with SIGTERM first, letting the container finish within the grace period', async () => {
    const task = makeTask(shellSpec('trap "echo got-term; exit 0" TERM; echo ready; sleep 1000 & wait'));
    const id = await driver.create(task);
    await driver.start(id);
    await eventually(async () => (await docker('logs', id)).includes('ready'), 10_000, 'trap installed');
    const exited = driver.wait(id);
    await driver.stop(id, 30);
    const exit = await exited;
    assert.equal(exit.exitCode, 0, 'the container exited by itself on SIGTERM');
    assert.ok(exit.lastOutput.includes('got-term'));
  });

  it('kills a container that ignores SIGTERM once the grace period is over', async () => {
    const task = makeTask(shellSpec('trap "echo ignored" TERM; echo ready; while true; do sleep 1; done'));
    const id = await driver.create(task);
    await driver.start(id);
    await eventually(async () => (await docker('logs', id)).includes('ready'), 10_000, 'trap installed');
    await driver.stop(id, 1);
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 137, 'SIGKILL');
  });

  it('refuses to pull under pull policy never, naming the image', async () => {
    await assert.rejects(driver.ensureImage('berth/absent-image:nope', 'never'), (err: Error) => {
      assert.ok(err instanceof ImageNotPresentError);
      assert.equal(err.message, 'image "berth/absent-image:nope" not found locally and pull policy is never');
      return true;
    });
    await driver.ensureImage(WEB_IMAGE, 'never');
  });

  it('an image removed after it was found present is looked for again once a create fails', async () => {
    const image = `berth/driver-test-gone:${nodeName}`;
    await docker('tag', BUSYBOX_IMAGE, image);
    try {
      await driver.ensureImage(image, 'never'); // present: remembered for a while
      await docker('rmi', image);
      const task = makeTask({ ...shellSpec('true'), image });
      await assert.rejects(driver.create(task));
      await assert.rejects(driver.ensureImage(image, 'never'), ImageNotPresentError, 'asked the Engine again');
    } finally {
      await docker('rmi', image).catch(() => undefined);
    }
  });

  it('lists only the containers of its own node', async () => {
    const mine = makeTask(shellSpec('sleep 60'));
    const theirs = makeTask(shellSpec('sleep 60'));
    const other = new DockerDriver({ nodeName: otherNode, logger: silentLogger });
    const myId = await driver.create(mine);
    await driver.start(myId);
    await other.create(theirs);
    const listed = await driver.list();
    assert.deepEqual(
      listed.map((i) => ({ id: i.id, taskId: i.taskId, running: i.running })),
      [{ id: myId, taskId: mine.id, running: true }],
    );
    await driver.remove(myId);
    assert.deepEqual(await driver.list(), []);
    assert.equal(await driver.inspect(myId), undefined);
  });
});
