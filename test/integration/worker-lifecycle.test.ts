// The worker end to end over each real driver: assignments start instances, a second worker with
// the same node name (an agent restart) adopts them, unassigned ones are stopped and removed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task, TaskState } from '../../common/types.js';
import { isLogReader, type Driver } from '../../agent/driver/driver.js';
import { DockerDriver } from '../../agent/driver/docker.js';
import { ProcessDriver } from '../../agent/driver/process.js';
import type { TaskStatusReport } from '../../common/task-status.js';
import { Worker } from '../../agent/worker/worker.js';
import { containersOfNode, ensureTestImages, makeTask, removeContainersOfNode, shellSpec, testNodeName } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

interface Kind {
  name: string;
  setup(): Promise<void>;
  driver(nodeName: string, dataDir: string): Driver;
  /** Instances of the node as the runtime itself sees them (ids). */
  instances(nodeName: string, dataDir: string): Promise<string[]>;
  cleanup(nodeName: string, dataDir: string): Promise<void>;
}

const kinds: Kind[] = [
  {
    name: 'docker',
    setup: ensureTestImages,
    driver: (nodeName) => new DockerDriver({ nodeName, logger: silentLogger }),
    instances: (nodeName) => containersOfNode(nodeName),
    cleanup: removeContainersOfNode,
  },
  {
    name: 'process',
    setup: () => Promise.resolve(),
    driver: (nodeName, dataDir) => new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 }),
    instances: async (nodeName, dataDir) =>
      (await new ProcessDriver({ nodeName, dataDir, logger: silentLogger }).list()).map((i) => i.id),
    cleanup: async (nodeName, dataDir) => {
      const d = new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 });
      for (const i of await d.list()) await d.remove(i.id);
    },
  },
];

/** Runs until SIGTERM, then exits 0 at once. */
const SERVE = 'trap "exit 0" TERM; echo up; sleep 1000 & wait';

for (const kind of kinds) {
  describe(`worker over the ${kind.name} driver`, function () {
    this.timeout(90_000);
    let nodeName: string;
    let dataDir: string;
    const workers: Worker[] = [];

    before(async function () {
      this.timeout(120_000);
      await kind.setup();
    });
    beforeEach(() => {
      nodeName = testNodeName(`wk-${kind.name}`);
      dataDir = mkdtempSync(path.join(tmpdir(), 'berth-worker-'));
    });
    afterEach(async () => {
      for (const w of workers.splice(0)) await w.stop();
      await kind.cleanup(nodeName, dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function newWorker(): Promise<{ worker: Worker; reports: TaskStatusReport[] }> {
      const worker = new Worker({ driver: kind.driver(nodeName, dataDir), nodeName, dataDir, logger: silentLogger });
      workers.push(worker);
      const reports: TaskStatusReport[] = [];
      worker.onStatus((r) => reports.push(r));
      await worker.start();
      return { worker, reports };
    }

    /** Whether the instance has written `text` on stdout so far. */
    async function printed(driver: Driver, id: string, text: string): Promise<boolean> {
      if (!isLogReader(driver)) return true;
      const ac = new AbortController();
      for await (const batch of driver.readLogs(id, { follow: false }, ac.signal)) {
        if (batch.some((l) => l.line.includes(text))) return true;
      }
      return false;
    }

    function stateOf(worker: Worker, taskId: string): TaskState | undefined {
      return worker.statuses().find((s) => s.taskId === taskId)?.status.state;
    }

    function statesReported(reports: TaskStatusReport[], taskId: string): TaskState[] {
      return reports.filter((r) => r.taskId === taskId).map((r) => r.status.state);
    }

    /** The task as the control plane holds it after the reports so far. */
    function asStored(task: Task, worker: Worker): Task {
      const status = worker.statuses().find((s) => s.taskId === task.id)?.status;
      return { ...task, status: status ?? task.status };
    }

    it('starts assigned tasks and reports every state up to running', async () => {
      const { worker, reports } = await newWorker();
      const t1 = makeTask(shellSpec(SERVE), { service: 'web', slot: 1 });
      const t2 = makeTask(shellSpec(SERVE), { service: 'web', slot: 2 });
      worker.setAssignments([t1, t2]);
      await eventually(() => stateOf(worker, t1.id) === 'running' && stateOf(worker, t2.id) === 'running', 30_000, 'both running');
      assert.deepEqual(statesReported(reports, t1.id), ['accepted', 'preparing', 'starting', 'running']);
      const ids = worker.statuses().map((s) => s.status.containerId);
      assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0));
      assert.deepEqual((await kind.instances(nodeName, dataDir)).sort(), [...ids].sort());
    });

    it('a restarted agent adopts the running instances: same ids, no twin', async () => {
      const first = await newWorker();
      const t1 = makeTask(shellSpec(SERVE), { service: 'web', slot: 1 });
      const t2 = makeTask(shellSpec(SERVE), { service: 'web', slot: 2 });
      first.worker.setAssignments([t1, t2]);
      await eventually(
        () => stateOf(first.worker, t1.id) === 'running' && stateOf(first.worker, t2.id) === 'running',
        30_000,
        'both running',
      );
      const stored = [asStored(t1, first.worker), asStored(t2, first.worker)];
      const idsBefore = stored.map((t) => t.status.containerId);
      await first.worker.stop();
      assert.deepEqual((await kind.instances(nodeName, dataDir)).sort(), [...idsBefore].sort(), 'stop() leaves instances running');

      const second = await newWorker();
      second.worker.setAssignments(stored);
      await eventually(
        () => stateOf(second.worker, t1.id) === 'running' && stateOf(second.worker, t2.id) === 'running' && second.reports.length >= 2,
        30_000,
        'adopted',
      );
      assert.deepEqual(
        second.worker.statuses().map((s) => s.status.containerId).sort(),
        [...idsBefore].sort(),
        'same container ids',
      );
      assert.deepEqual(statesReported(second.reports, t1.id), ['running']);
      assert.deepEqual((await kind.instances(nodeName, dataDir)).sort(), [...idsBefore].sort(), 'no twin');
      const adopted = await kind.driver(nodeName, dataDir).list();
      assert.ok(adopted.every((i) => i.running));
    });

    it('stops and removes tasks that are no longer assigned, also those found at start', async () => {
      const first = await newWorker();
      const keep = makeTask(shellSpec(SERVE), { service: 'web', slot: 1 });
      const drop = makeTask(shellSpec(SERVE), { service: 'web', slot: 2 });
      const stale = makeTask(shellSpec(SERVE), { service: 'old', slot: 1 });
      first.worker.setAssignments([keep, drop, stale]);
      await eventually(() => [keep, drop, stale].every((t) => stateOf(first.worker, t.id) === 'running'), 30_000, 'running');
      const dropId = first.worker.statuses().find((s) => s.taskId === drop.id)?.status.containerId;
      const staleId = first.worker.statuses().find((s) => s.taskId === stale.id)?.status.containerId;
      const keepStored = asStored(keep, first.worker);

      first.worker.setAssignments([keep, stale]);
      await eventually(() => statesReported(first.reports, drop.id).includes('shutdown'), 30_000, 'drop shut down');
      await eventually(async () => !(await kind.instances(nodeName, dataDir)).includes(dropId!), 30_000, 'drop removed');
      assert.equal(stateOf(first.worker, drop.id), undefined, 'forgotten');
      assert.equal(stateOf(first.worker, keep.id), 'running');

      // After a restart, an instance whose task is no longer assigned goes too.
      await first.worker.stop();
      const second = await newWorker();
      second.worker.setAssignments([keepStored]);
      await eventually(async () => !(await kind.instances(nodeName, dataDir)).includes(staleId!), 30_000, 'stale removed');
      await eventually(() => stateOf(second.worker, keep.id) === 'running', 30_000, 'keep adopted');
      assert.deepEqual(await kind.instances(nodeName, dataDir), [keepStored.status.containerId]);
    });

    it('reports a failing task with its exit code and output, and does not restart it', async () => {
      const { worker, reports } = await newWorker();
      const t = makeTask(shellSpec('echo boom >&2; exit 4'), { service: 'bad' });
      worker.setAssignments([t]);
      await eventually(() => stateOf(worker, t.id) === 'failed', 30_000, 'failed');
      const final = reports.at(-1)!.status;
      assert.equal(final.exitCode, 4);
      assert.equal(final.lastOutput, 'boom');
      assert.equal(final.reason, 'ContainerExited');
      const instances = await kind.driver(nodeName, dataDir).list();
      assert.equal(instances.length, 1, 'one instance, not restarted');
      assert.equal(instances[0]?.running, false);
      // The exited instance stays for inspection until the task is removed.
      worker.remove(t.id);
      await eventually(async () => (await kind.instances(nodeName, dataDir)).length === 0, 30_000, 'removed');
    });

    it('stops a task whose desired state becomes shutdown, and removes it on remove()', async () => {
      const { worker, reports } = await newWorker();
      const t = makeTask(shellSpec(SERVE, { stopGracePeriodSeconds: 20 }), { service: 'web' });
      worker.setAssignments([t]);
      await eventually(() => stateOf(worker, t.id) === 'running', 30_000, 'running');
      // "running" means started, not that the shell has set its trap yet: wait for its "up".
      const id = worker.statuses().find((r) => r.taskId === t.id)!.status.containerId!;
      await eventually(() => printed(kind.driver(nodeName, dataDir), id, 'up'), 30_000, 'trap set');
      worker.upsert({ ...asStored(t, worker), desiredState: 'shutdown' });
      await eventually(() => stateOf(worker, t.id) === 'shutdown', 30_000, 'shutdown');
      assert.equal(reports.at(-1)?.status.exitCode, 0, 'the task exited by itself on SIGTERM');
      assert.equal((await kind.instances(nodeName, dataDir)).length, 1, 'kept until removed');
      worker.remove(t.id);
      await eventually(async () => (await kind.instances(nodeName, dataDir)).length === 0, 30_000, 'removed');
    });
  });
}
