import assert from 'node:assert/strict';
import { jobProgress, jobSettings } from '../../common/jobs.js';
import { validateService } from '../../common/manifest/validate.js';
import type { DesiredState, Service, Task, TaskState } from '../../common/types.js';
import { planJob } from '../../control-plane/orchestrator/job.js';
import { planService } from '../../control-plane/orchestrator/planners.js';
import { countService } from '../../control-plane/api/task-counts.js';
import { replicasCell } from '../../cli/output/views.js';
import { makeNode, makeService, taskOf } from '../helpers/builders.js';

const NOW = '2026-01-01T00:10:00.000Z';
let seq = 0;

function job(spec: Partial<Service['spec']> = {}): Service {
  const { replicas: _r, ...rest } = makeService({ mode: 'job', command: ['true'], ...spec }).spec;
  return { ...makeService(), spec: rest };
}

function task(s: Service, slot: number, state: TaskState, extra: Partial<Task> & { desiredState?: DesiredState } = {}): Task {
  seq++;
  return taskOf(s, {
    id: `t${String(seq).padStart(4, '0')}`,
    name: `${s.metadata.name}.${slot}.x${seq}`,
    slot,
    serviceVersion: 10,
    nodeId: 'n1',
    state,
    status: { timestamp: '2026-01-01T00:05:00.000Z' },
    createdAt: `2026-01-01T00:0${Math.min(4, Math.floor(seq / 60))}:${String(seq % 60).padStart(2, '0')}.000Z`,
    ...extra,
  });
}

describe('jobs: manifest', () => {
  it('accepts completions and parallelism with mode job, and refuses them (and replicas, restart any) where they do not apply', () => {
    const base = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'j' } };
    assert.deepEqual(validateService({ ...base, spec: { image: 'x', mode: 'job', completions: 3, parallelism: 2 } }), []);
    const paths = (spec: object) => validateService({ ...base, spec: { image: 'x', ...spec } }).map((i) => i.path);
    assert.deepEqual(paths({ completions: 3 }), ['spec.completions']);
    assert.deepEqual(paths({ mode: 'job', replicas: 2 }), ['spec.replicas']);
    assert.deepEqual(paths({ mode: 'job', restartPolicy: { condition: 'any' } }), ['spec.restartPolicy.condition']);
    assert.deepEqual(paths({ mode: 'job', completions: 0 }), ['spec.completions']);
  });
});

describe('jobs: planner', () => {
  it('starts at most `parallelism` tasks, one per slot, and the next slots as tasks complete', () => {
    const s = job({ completions: 3, parallelism: 2 });
    const first = planService({ service: s, tasks: [], now: NOW });
    assert.deepEqual(first.create.map((t) => t.slot), [1, 2]);
    const running = [task(s, 1, 'running'), task(s, 2, 'running')];
    assert.equal(planJob({ service: s, tasks: running, now: NOW }).create.length, 0, 'two run: nothing more');
    const oneDone = [task(s, 1, 'complete'), task(s, 2, 'running')];
    assert.deepEqual(planJob({ service: s, tasks: oneDone, now: NOW }).create.map((t) => t.slot), [3]);
  });

  it('never starts a complete slot again, and starts nothing once every completion is done', () => {
    const s = job({ completions: 2, parallelism: 2 });
    const tasks = [task(s, 1, 'complete'), task(s, 2, 'complete')];
    const plan = planJob({ service: s, tasks, now: NOW });
    assert.deepEqual([plan.create, plan.shutdown, plan.remove], [[], [], []]);
    assert.deepEqual(jobProgress(jobSettings(s.spec), tasks), { completed: 2, state: 'complete' });
  });

  it('retries a failed task in its slot with a growing attempt count, then fails the job and stops its other tasks', () => {
    const s = job({ completions: 2, parallelism: 2, restartPolicy: { maxAttempts: 2 } });
    const failedOnce = task(s, 1, 'failed', { restarts: 0 });
    const other = task(s, 2, 'running');
    const retry = planJob({ service: s, tasks: [failedOnce, other], now: NOW });
    assert.equal(retry.create.length, 1);
    assert.equal(retry.create[0]!.slot, 1);
    assert.equal(retry.create[0]!.restarts, 1);
    const spent = task(s, 1, 'failed', { restarts: 2 });
    const plan = planJob({ service: s, tasks: [spent, other], now: NOW });
    assert.equal(plan.create.length, 0);
    assert.deepEqual(plan.shutdown.map((x) => x.task.id), [other.id], 'the job failed: its running task is stopped');
    assert.equal(jobProgress(jobSettings(s.spec), [spent, other]).state, 'failed');
  });

  it('counts a failure after a long run as an attempt too (no reset window for jobs)', () => {
    const s = job({ restartPolicy: { maxAttempts: 1 } });
    const longRun = task(s, 1, 'failed', { restarts: 1, createdAt: '2026-01-01T00:00:00.000Z', status: { state: 'failed', timestamp: '2026-01-01T00:09:00.000Z' } });
    assert.equal(planJob({ service: s, tasks: [longRun], now: NOW }).create.length, 0);
  });

  it('does not retry with restart condition none', () => {
    const s = job({ restartPolicy: { condition: 'none' } });
    const failed = task(s, 1, 'failed');
    assert.equal(planJob({ service: s, tasks: [failed], now: NOW }).create.length, 0);
    assert.equal(jobProgress(jobSettings(s.spec), [failed]).state, 'failed');
  });

  it('replaces a task lost with its node without counting an attempt', () => {
    const s = job({ restartPolicy: { maxAttempts: 1 } });
    const lost = task(s, 1, 'running', { nodeId: 'n2' });
    const plan = planJob({ service: s, tasks: [lost], now: NOW, nodes: [makeNode('n2', { at: NOW, state: 'down' })] });
    assert.equal(plan.orphan.length, 1);
    assert.equal(plan.create.length, 1);
    assert.equal(plan.create[0]!.restarts, undefined);
  });

  it('a changed spec starts a new run: the old run\'s tasks are stopped or forgotten', () => {
    const old = job({ completions: 1 });
    const done = task(old, 1, 'complete');
    const s = job({ completions: 1, command: ['sh', '-c', 'exit 0'] });
    const plan = planJob({ service: s, tasks: [done], now: NOW });
    assert.deepEqual(plan.remove.map((t) => t.id), [done.id]);
    assert.deepEqual(plan.create.map((t) => t.slot), [1]);
  });

  it('more completions run the missing ones only; fewer stop the slots above', () => {
    const s = job({ completions: 1 });
    const done = task(s, 1, 'complete');
    const more = { ...s, spec: { ...s.spec, completions: 2 } };
    assert.deepEqual(planJob({ service: more, tasks: [done], now: NOW }).create.map((t) => t.slot), [2]);
    const running2 = task(more, 2, 'running');
    const fewer = planJob({ service: s, tasks: [done, running2], now: NOW });
    assert.deepEqual(fewer.shutdown.map((x) => x.task.id), [running2.id]);
  });
});

describe('jobs: what users see', () => {
  it('counts completions and the state, and shows them as N/M completed or failed', () => {
    const s = job({ completions: 3, parallelism: 2 });
    const counts = countService(s, [task(s, 1, 'complete'), task(s, 2, 'running')]);
    assert.equal(counts.completed, 1);
    assert.equal(counts.job, 'running');
    assert.equal(replicasCell({ ...s, status: { completed: 1, desired: 3, job: 'running' } }), '1/3 completed');
    assert.equal(replicasCell({ ...s, status: { completed: 0, desired: 3, job: 'failed' } }), '0/3 failed');
  });
});
