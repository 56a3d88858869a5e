import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidSpecError } from '../../agent/driver/driver.js';
import { ProcessDriver } from '../../agent/driver/process.js';
import { makeTask, shellSpec, testNodeName } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

describe('process driver (real host processes)', function () {
  let dataDir: string;
  let driver: ProcessDriver;
  const nodeName = testNodeName('proc');
  const started: string[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-proc-'));
    driver = new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 });
  });
  afterEach(async () => {
    // remove() kills the process group of anything still running.
    for (const id of started.splice(0)) await driver.remove(id);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function run(spec: ReturnType<typeof shellSpec>): Promise<string> {
    const id = await driver.create(makeTask(spec));
    started.push(id);
    await driver.start(id);
    return id;
  }

  it('runs command + args with the env, and reports the exit code and the last 20 lines', async () => {
    const id = await run(
      shellSpec('echo "greeting=$GREETING"; i=1; while [ $i -le 30 ]; do echo line-$i; i=$((i+1)); done; echo oops >&2; exit 3', {
        env: { GREETING: 'hello world' },
      }),
    );
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 3);
    const lines = exit.lastOutput.split('\n');
    assert.equal(lines.length, 20);
    assert.equal(lines[0], 'line-12');
    assert.equal(lines.at(-1), 'oops');
    const ok = await driver.wait(await run(shellSpec('echo "greeting=$GREETING"', { env: { GREETING: 'hi' } })));
    assert.deepEqual(ok, { exitCode: 0, lastOutput: 'greeting=hi' });
  });

  it('reports the container ports as host ports', async () => {
    const id = await run(shellSpec('sleep 30', { ports: [{ containerPort: 18080 }, { containerPort: 18081, protocol: 'udp' }] }));
    const inst = await driver.inspect(id);
    assert.equal(inst?.running, true);
    assert.deepEqual(inst?.hostPorts, [
      { containerPort: 18080, hostPort: 18080, protocol: 'tcp' },
      { containerPort: 18081, hostPort: 18081, protocol: 'udp' },
    ]);
  });

  it('stops with SIGTERM first, letting the process finish within the grace period', async () => {
    const marker = path.join(dataDir, 'ready');
    const id = await run(shellSpec(`trap "echo got-term; exit 0" TERM; touch ${marker}; sleep 1000 & wait`));
    await eventually(() => readFileSync(marker, 'utf8') === '', 10_000, 'trap installed');
    await driver.stop(id, 30);
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 0);
    assert.equal(exit.lastOutput, 'got-term');
  });

  it('kills a process that ignores SIGTERM once the grace period is over', async () => {
    const marker = path.join(dataDir, 'ready');
    const id = await run(shellSpec(`trap "echo ignored" TERM; touch ${marker}; while true; do sleep 1; done`));
    await eventually(() => readFileSync(marker, 'utf8') === '', 10_000, 'trap installed');
    await driver.stop(id, 1);
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 137);
    assert.equal((await driver.inspect(id))?.running, false);
  });

  it('lets a new driver over the same data dir adopt a running process and learn its exit code', async () => {
    const marker = path.join(dataDir, 'go');
    const id = await run(shellSpec(`while [ ! -e ${marker} ]; do sleep 0.1; done; echo finishing; exit 7`));
    // A restarted agent: a fresh driver object with only the files on disk.
    const again = new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 });
    const listed = await again.list();
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.id, id);
    assert.equal(listed[0]?.running, true);
    const other = new ProcessDriver({ nodeName: 'someone-else', dataDir, logger: silentLogger });
    assert.deepEqual(await other.list(), [], 'another node name sees nothing');
    const exited = again.wait(id);
    writeFileSync(marker, '');
    const exit = await exited;
    assert.deepEqual(exit, { exitCode: 7, lastOutput: 'finishing' });
    assert.equal((await again.inspect(id))?.exitCode, 7);
  });

  it('refuses a spec without a command', async () => {
    await assert.rejects(driver.create(makeTask({ image: 'berth/web:latest' })), InvalidSpecError);
  });

  it('reports a command that does not exist as a failed exit with the shell message', async () => {
    const id = await driver.create(makeTask({ command: ['/nonexistent/berth-binary'] }));
    started.push(id);
    await driver.start(id);
    const exit = await driver.wait(id);
    assert.equal(exit.exitCode, 127);
    assert.match(exit.lastOutput, /not found/);
  });
});
