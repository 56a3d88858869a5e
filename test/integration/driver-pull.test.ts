import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DockerDriver } from '../../agent/driver/docker.js';
import { ImagePullError } from '../../agent/driver/driver.js';
import {
  BUSYBOX_IMAGE,
  WEB_IMAGE,
  docker,
  ensureTestImages,
  imageExists,
  makeTask,
  removeContainersOfNode,
  shellSpec,
  testNodeName,
} from '../helpers/docker.js';
import { silentLogger } from '../helpers/etcd.js';
import { startTestRegistry, type TestRegistry } from '../helpers/registry.js';

async function imageId(ref: string): Promise<string> {
  return docker('image', 'inspect', '--format', '{{.Id}}', ref);
}

describe('docker driver pulls from a registry (real local registry)', function () {
  this.timeout(120_000);
  const nodeName = testNodeName('pull');
  const repo = `berth-test/busybox:${randomBytes(4).toString('hex')}`;
  let registry: TestRegistry;
  let driver: DockerDriver;
  let ref: string;

  before(async () => {
    await ensureTestImages();
    registry = await startTestRegistry();
    driver = new DockerDriver({ nodeName, logger: silentLogger });
    ref = await registry.push(BUSYBOX_IMAGE, repo);
    await docker('rmi', ref);
  });
  after(async () => {
    await removeContainersOfNode(nodeName);
    await registry?.stop();
  });

  it('pulls a missing image under if-not-present and runs it', async () => {
    assert.equal(await imageExists(ref), false);
    await driver.ensureImage(ref, 'if-not-present');
    assert.equal(await imageId(ref), await imageId(BUSYBOX_IMAGE));
    const task = makeTask({ image: ref, ...shellSpec('echo pulled-and-ran') });
    const id = await driver.create(task);
    await driver.start(id);
    const exit = await driver.wait(id);
    assert.deepEqual(exit, { exitCode: 0, lastOutput: 'pulled-and-ran' });
  });

  it('pulls again under always, but not under if-not-present, when the image is present', async () => {
    // The registry's tag now holds berth/web; locally the tag still holds busybox.
    await registry.push(WEB_IMAGE, repo);
    await docker('tag', BUSYBOX_IMAGE, ref);
    await driver.ensureImage(ref, 'if-not-present');
    assert.equal(await imageId(ref), await imageId(BUSYBOX_IMAGE), 'present image kept');
    await driver.ensureImage(ref, 'always');
    assert.equal(await imageId(ref), await imageId(WEB_IMAGE), 'the registry version was pulled');
  });

  it('reports a pull of a tag the registry does not have as an image pull error', async () => {
    const missing = `${registry.address}/berth-test/none:absent`;
    await assert.rejects(driver.ensureImage(missing, 'always'), (err: Error) => {
      assert.ok(err instanceof ImagePullError);
      assert.ok(err.message.startsWith(`pulling image "${missing}" failed: `), err.message);
      return true;
    });
  });
});
