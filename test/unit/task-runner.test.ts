// The task runner's state machine against an in-memory driver: which states it reports, in what
// order, and what it never does (restart an exited instance, start a twin, move backwards).
import assert from 'node:assert/strict';
import type { TaskStatus } from '../../common/types.js';
import {
  ImageNotPresentError,
  RegistryAuthError,
  type Driver,
  type RegistryAuth,
  type ExitResult,
  type Instance,
  type PullPolicy,
} from '../../agent/driver/driver.js';
import { StatusReason } from '../../agent/worker/lifecycle.js';
import { TaskRunner } from '../../agent/worker/task-runner.js';
import { makeTask } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

interface FakeInstance extends Instance {
  exit?: ExitResult;
  waiters: ((e: ExitResult) => void)[];
}

class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly instances = new Map<string, FakeInstance>();
  readonly calls: string[] = [];
  pullError: Error | undefined;
  pullAuth: RegistryAuth | undefined;
  private n = 0;

  ensureImage(image: string, policy?: PullPolicy, auth?: RegistryAuth): Promise<void> {
    this.calls.push(`ensureImage ${image} ${policy}`);
    this.pullAuth = auth;
    return this.pullError ? Promise.reject(this.pullError) : Promise.resolve();
  }
  create(task: Parameters<Driver['create']>[0]): Promise<string> {
    const id = `c${++this.n}`;
    this.calls.push(`create ${task.id}`);
    this.instances.set(id, {
      id,
      taskId: task.id,
      taskName: task.name,
      serviceName: task.serviceName,
      slot: task.slot,
      running: false,
      started: false,
      hostPorts: [{ containerPort: 80, hostPort: 32768, protocol: 'tcp' }],
      waiters: [],
    });
    return Promise.resolve(id);
  }
  start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const i = this.instances.get(id)!;
    i.running = true;
    i.started = true;
    return Promise.resolve();
  }
  wait(id: string, signal?: AbortSignal): Promise<ExitResult> {
    const i = this.instances.get(id)!;
    if (i.exit) return Promise.resolve(i.exit);
    return new Promise((resolve, reject) => {
      i.waiters.push(resolve);
      signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  }
  stop(id: string, graceSeconds: number): Promise<void> {
    this.calls.push(`stop ${id} ${graceSeconds}`);
    const i = this.instances.get(id);
    if (i?.running) this.exit(id, 143, 'terminated');
    return Promise.resolve();
  }
  remove(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    this.instances.delete(id);
    return Promise.resolve();
  }
  list(): Promise<Instance[]> {
    return Promise.resolve([...this.instances.values()]);
  }
  inspect(id: string): Promise<Instance | undefined> {
    this.calls.push(`inspect ${id}`);
    return Promise.resolve(this.instances.get(id));
  }
  /** The instance ends by itself. */
  exit(id: string, exitCode: number, lastOutput: string): void {
    const i = this.instances.get(id)!;
    i.running = false;
    i.exitCode = exitCode;
    i.exit = { exitCode, lastOutput };
    for (const w of i.waiters.splice(0)) w(i.exit);
  }
}

function runnerFor(driver: FakeDriver, task = makeTask({ image: 'img:1' }), adopted?: Instance) {
  const reports: TaskStatus[] = [];
  const runner = new TaskRunner({ task, driver, logger: silentLogger, onStatus: (s) => reports.push(s), adopted });
  return { runner, reports, task, states: () => reports.map((r) => r.state) };
}

describe('task runner (fake driver)', () => {
  it('goes accepted -> preparing -> starting -> running -> complete, with container id and ports', async () => {
    const d = new FakeDriver();
    const { runner, reports, states } = runnerFor(d, makeTask({ image: 'img:1', ports: [{ containerPort: 80 }] }));
    const done = runner.run();
    await eventually(() => runner.status.state === 'running');
    assert.deepEqual(states(), ['accepted', 'preparing', 'starting', 'running']);
    assert.equal(reports.at(-1)?.containerId, 'c1');
    assert.deepEqual(reports.at(-1)?.hostPorts, [{ containerPort: 80, hostPort: 32768, protocol: 'tcp' }]);
    assert.ok(d.calls.includes('ensureImage img:1 if-not-present'), 'default pull policy');
    d.exit('c1', 0, 'bye');
    await done;
    assert.equal(runner.status.state, 'complete');
    assert.equal(runner.status.exitCode, 0);
    assert.equal(runner.status.lastOutput, 'bye');
    assert.equal(runner.status.containerId, 'c1');
  });

  it('publishes no ports: reports running without inspecting the instance for host ports', async () => {
    const d = new FakeDriver();
    const { runner, reports } = runnerFor(d);
    void runner.run();
    await eventually(() => runner.status.state === 'running');
    assert.deepEqual(reports.at(-1)?.hostPorts, []);
    assert.ok(!d.calls.some((c) => c.startsWith('inspect')), `no inspect in ${d.calls.join(', ')}`);
    d.exit('c1', 0, '');
  });

  it('fails on a non-zero exit with the exit code and output, and never restarts the instance', async () => {
    const d = new FakeDriver();
    const { runner } = runnerFor(d);
    const done = runner.run();
    await eventually(() => runner.status.state === 'running');
    d.exit('c1', 2, 'boom');
    await done;
    assert.equal(runner.status.state, 'failed');
    assert.equal(runner.status.reason, StatusReason.ContainerExited);
    assert.equal(runner.status.message, 'exited with code 2');
    assert.equal(runner.status.exitCode, 2);
    assert.equal(runner.status.lastOutput, 'boom');
    assert.equal(d.calls.filter((c) => c.startsWith('start')).length, 1);
  });

  it('fails at preparing when the image cannot be had, with a named reason', async () => {
    const d = new FakeDriver();
    d.pullError = new ImageNotPresentError('img:1');
    const { runner, states } = runnerFor(d);
    await runner.run();
    assert.deepEqual(states(), ['accepted', 'preparing', 'failed']);
    assert.equal(runner.status.reason, StatusReason.ImageNotPresent);
    assert.equal(runner.status.message, 'image "img:1" not found locally and pull policy is never');
    assert.equal(d.instances.size, 0);
  });

  it('pulls with the credentials the files step returns; a registry refusing them rejects the task, naming it', async () => {
    const d = new FakeDriver();
    const auth = { serverAddress: 'reg.example:5000', username: 'u', password: 'p' };
    d.pullError = new RegistryAuthError('reg.example:5000', 'reg.example:5000/app:1', 'no basic auth credentials', true);
    const task = makeTask({ image: 'reg.example:5000/app:1' });
    const asked: string[] = [];
    const files = { needs: () => true, prepare: (t: typeof task) => (asked.push(t.id), Promise.resolve(auth)), release: () => Promise.resolve() };
    const reports: TaskStatus[] = [];
    const runner = new TaskRunner({ task, driver: d, logger: silentLogger, onStatus: (st) => reports.push(st), files });
    await runner.run();
    assert.deepEqual(asked, [task.id], 'the files step ran before the pull');
    assert.deepEqual(d.pullAuth, auth);
    assert.deepEqual(reports.map((r) => r.state), ['accepted', 'preparing', 'rejected']);
    assert.match(runner.status.message ?? '', /^registry reg\.example:5000 refused to pull "reg\.example:5000\/app:1": authentication required \(no basic auth credentials\); the credentials stored for reg\.example:5000 were refused/);
    assert.equal(d.instances.size, 0);
  });

  it('stops with the spec grace period when the desired state becomes shutdown, keeping the container', async () => {
    const d = new FakeDriver();
    const task = makeTask({ image: 'img:1', stopGracePeriodSeconds: 3 });
    const { runner } = runnerFor(d, task);
    const done = runner.run();
    await eventually(() => runner.status.state === 'running');
    runner.update({ ...task, desiredState: 'shutdown' });
    await done;
    assert.equal(runner.status.state, 'shutdown');
    assert.equal(runner.status.reason, StatusReason.Stopped);
    assert.equal(runner.status.exitCode, 143);
    assert.ok(d.calls.includes('stop c1 3'));
    assert.ok(!d.calls.some((c) => c.startsWith('remove')));
  });

  it('remove() stops then removes the instance', async () => {
    const d = new FakeDriver();
    const { runner } = runnerFor(d);
    void runner.run();
    await eventually(() => runner.status.state === 'running');
    await runner.remove();
    assert.equal(runner.status.state, 'shutdown');
    assert.deepEqual(d.calls.slice(-2), ['stop c1 10', 'remove c1']);
    assert.equal(d.instances.size, 0);
  });

  it('adopts a running instance: reports it running with its id and creates nothing', async () => {
    const d = new FakeDriver();
    const task = makeTask({ image: 'img:1' });
    const id = await d.create(task);
    await d.start(id);
    d.calls.length = 0;
    const { runner, states, reports } = runnerFor(d, { ...task, status: { state: 'running', timestamp: task.createdAt } }, d.instances.get(id));
    const done = runner.run();
    await eventually(() => reports.length > 0);
    assert.deepEqual(states(), ['running']);
    assert.equal(reports[0]?.containerId, id);
    assert.equal(reports[0]?.reason, StatusReason.Adopted);
    assert.deepEqual(d.calls, []);
    d.exit(id, 0, '');
    await done;
    assert.equal(runner.status.state, 'complete');
  });

  it('reports a task lost when it was running here but its instance is gone, instead of starting it again', async () => {
    const d = new FakeDriver();
    const task = makeTask({ image: 'img:1' });
    const { runner, states } = runnerFor(d, { ...task, status: { state: 'running', timestamp: task.createdAt } });
    await runner.run();
    assert.deepEqual(states(), ['failed']);
    assert.equal(runner.status.reason, StatusReason.ContainerMissing);
    assert.equal(d.instances.size, 0);
  });

  it('does not start a task whose desired state is already shutdown', async () => {
    const d = new FakeDriver();
    const task = { ...makeTask({ image: 'img:1' }), desiredState: 'shutdown' as const };
    const { runner, states } = runnerFor(d, task);
    await runner.run();
    assert.deepEqual(states(), ['shutdown']);
    assert.equal(d.calls.length, 0);
  });

  it('detach() stops supervising without stopping the instance or reporting', async () => {
    const d = new FakeDriver();
    const { runner, states } = runnerFor(d);
    void runner.run();
    await eventually(() => runner.status.state === 'running');
    await runner.detach();
    assert.equal(d.instances.get('c1')?.running, true);
    assert.ok(!d.calls.some((c) => c.startsWith('stop')));
    d.exit('c1', 1, '');
    assert.deepEqual(states(), ['accepted', 'preparing', 'starting', 'running']);
  });
});
