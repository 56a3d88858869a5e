// The rollout planner with plain data: steps of `parallelism` slots, monitoring, failures and
// the failure action, start-first, scale and resumption from a stored state.
import assert from 'node:assert/strict';
import { UpdateState, type UpdateStatus } from '../../common/rollout.js';
import type { DesiredState, Service, ServiceSpec, Task, TaskState } from '../../common/types.js';
import { planGlobal } from '../../control-plane/orchestrator/global.js';
import { planReplicated } from '../../control-plane/orchestrator/replicated.js';
import { summarizeChange } from '../../control-plane/rollout/summary.js';
import { newUpdateStatus, progressDeadlineSeconds } from '../../control-plane/orchestrator/update.js';
import { taskOf } from '../helpers/builders.js';

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
let seq = 0;

function svc(spec: Partial<ServiceSpec> = {}, revision = 2): Service {
  return { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web', version: 10, revision }, spec: { image: 'berth/web', replicas: 4, ...spec } };
}

function task(s: Service, slot: number, opts: { state?: TaskState; desired?: DesiredState; created?: number; health?: 'healthy' | 'unhealthy' } = {}): Task {
  seq++;
  const { state = 'running', desired = 'running', created = -100 } = opts;
  return taskOf(s, {
    id: `t${String(seq).padStart(4, '0')}`,
    name: `web.${slot}.x${seq}`,
    slot,
    desiredState: desired,
    nodeId: 'n1',
    state,
    status: { timestamp: at(created), ...(opts.health ? { health: opts.health } : {}) },
    createdAt: at(created + seq / 1000),
    version: seq,
  });
}

const v1 = svc({ env: { GREETING: 'one' } }, 1);
const update = (extra: Partial<UpdateStatus> = {}): UpdateStatus => ({ ...newUpdateStatus(v2(), at(0), { previousRevision: 1 }), version: 5, ...extra });
function v2(u: ServiceSpec['update'] = { parallelism: 2, monitorSeconds: 5 }, extra: Partial<ServiceSpec> = {}): Service {
  return svc({ env: { GREETING: 'two' }, update: u, ...extra }, 2);
}
const old = () => [1, 2, 3, 4].map((slot) => task(v1, slot));

describe('rollout planner', () => {
  it('starts with parallelism slots (stop-first) and records the step', () => {
    const plan = planReplicated({ service: v2(), tasks: old(), now: at(1), update: update() });
    assert.deepEqual(plan.shutdown.map((s) => s.task.slot), [1, 2]);
    assert.equal(plan.create.length, 0);
    assert.equal(plan.update?.steps, 1);
    assert.ok(plan.events.some((e) => e.reason === 'UpdateStarted'));
  });

  it('waits for the step to be ready for monitorSeconds before the next, then counts delaySeconds', () => {
    const s = v2({ parallelism: 2, monitorSeconds: 5, delaySeconds: 3 });
    const tasks = [task(s, 1, { created: 1 }), task(s, 2, { created: 1 }), task(v1, 3), task(v1, 4)];
    const u = update({ steps: 1 });
    const p1 = planReplicated({ service: s, tasks, now: at(2), update: u });
    assert.equal(p1.shutdown.length, 0, 'monitoring: no new step');
    assert.equal(p1.update?.tasks[tasks[0]!.id]?.readySince, at(2));
    assert.equal(p1.wakeAt, T0 + 7000);
    const p2 = planReplicated({ service: s, tasks, now: at(7), update: p1.update });
    assert.equal(p2.shutdown.length, 0, 'monitor passed: the delay starts');
    assert.equal(p2.update?.stepDoneAt, at(7));
    assert.equal(p2.wakeAt, T0 + 10_000);
    const p3 = planReplicated({ service: s, tasks, now: at(10), update: p2.update });
    assert.deepEqual(p3.shutdown.map((x) => x.task.slot), [3, 4]);
    assert.equal(p3.update?.steps, 2);
  });

  it('completes when every slot runs the new spec and passed monitoring', () => {
    const s = v2();
    const tasks = [1, 2, 3, 4].map((slot) => task(s, slot, { created: 1 }));
    const records = Object.fromEntries(tasks.map((t) => [t.id, { slot: t.slot, readySince: at(2), passed: true }]));
    const plan = planReplicated({ service: s, tasks, now: at(20), update: update({ steps: 2, tasks: records }) });
    assert.equal(plan.update?.state, UpdateState.Completed);
    assert.ok(plan.events.some((e) => e.reason === 'UpdateCompleted'));
  });

  it('a new task that exits is a failure: pause stops the rollout', () => {
    const s = v2({ parallelism: 2, failureAction: 'pause' });
    const tasks = [task(s, 1, { created: 1, state: 'failed' }), task(s, 2, { created: 1 }), task(v1, 3), task(v1, 4)];
    const plan = planReplicated({ service: s, tasks, now: at(3), update: update({ steps: 1 }) });
    assert.equal(plan.update?.state, UpdateState.Paused);
    assert.equal(plan.update?.failures, 1);
    assert.match(plan.update?.message ?? '', /1\/4 new tasks failed.*web\.1\..* failed/);
    assert.ok(plan.events.some((e) => e.reason === 'UpdatePaused'));
    assert.equal(plan.shutdown.filter((x) => x.task.slot > 2).length, 0);
  });

  it('rollback asks for the previous revision; continue goes on below the ratio', () => {
    const bad = v2({ parallelism: 2, failureAction: 'rollback' });
    const tasks = [task(bad, 1, { created: 1, state: 'failed' }), task(v1, 2), task(v1, 3), task(v1, 4)];
    const plan = planReplicated({ service: bad, tasks, now: at(3), update: update({ steps: 1 }) });
    assert.deepEqual(plan.rollback?.toRevision, 1);
    assert.match(plan.rollback?.reason ?? '', /1\/4 new tasks failed/);

    const tolerant = v2({ parallelism: 2, failureAction: 'rollback', maxFailureRatio: 0.5 });
    const p2 = planReplicated({ service: tolerant, tasks, now: at(3), update: update({ steps: 1 }) });
    assert.equal(p2.rollback, undefined);
    assert.equal(p2.update?.failures, 1);
    assert.deepEqual(p2.shutdown.filter((x) => x.reason === 'replaced by the service update').map((x) => x.task.slot), [2, 3], 'the failed slot is not retried; the next step goes on');
  });

  it('a new task not ready before the progress deadline fails; an unhealthy one fails at once', () => {
    const s = v2({ parallelism: 2, monitorSeconds: 1, failureAction: 'pause' });
    assert.equal(progressDeadlineSeconds(s.spec), 60);
    const slow = [task(s, 1, { created: 1, state: 'pending' }), task(v1, 2), task(v1, 3), task(v1, 4)];
    assert.equal(planReplicated({ service: s, tasks: slow, now: at(30), update: update({ steps: 1 }) }).update?.state, UpdateState.Updating);
    assert.equal(planReplicated({ service: s, tasks: slow, now: at(62), update: update({ steps: 1 }) }).update?.state, UpdateState.Paused);
    const withCheck = v2({ parallelism: 2, failureAction: 'pause' }, { healthCheck: { http: { port: 8080 } } });
    const sick = [task(withCheck, 1, { created: 1, health: 'unhealthy' }), task(v1, 2), task(v1, 3), task(v1, 4)];
    assert.equal(planReplicated({ service: withCheck, tasks: sick, now: at(3), update: update({ steps: 1 }) }).update?.state, UpdateState.Paused);
  });

  it('start-first: the new task starts beside the old one, which stops only once the new is ready', () => {
    const s = v2({ parallelism: 1, order: 'start-first' });
    const tasks = old();
    const p1 = planReplicated({ service: s, tasks, now: at(1), update: update() });
    assert.equal(p1.shutdown.length, 0);
    assert.deepEqual(p1.create.map((t) => t.slot), [1]);
    const starting = { ...p1.create[0]!, status: { state: 'starting' as const, timestamp: at(2) } };
    const p2 = planReplicated({ service: s, tasks: [...tasks, starting], now: at(2), update: p1.update });
    assert.equal(p2.shutdown.length, 0, 'the old task serves until its replacement is ready');
    const running = { ...starting, status: { state: 'running' as const, timestamp: at(3) } };
    const p3 = planReplicated({ service: s, tasks: [...tasks, running], now: at(3), update: p2.update });
    assert.deepEqual(p3.shutdown.map((x) => x.task.id), [tasks[0]!.id]);
    assert.equal(p3.create.length, 0, 'one slot at a time');
  });

  it('start-first keeps one old task beside the replacement, not an old twin too (found by a property test)', () => {
    const s = v2({ parallelism: 0, order: 'start-first' }, { replicas: 1 });
    const older = task(v1, 1, { state: 'pending', created: 0 });
    const replacement = task(s, 1, { state: 'pending', created: 1 });
    const newer = task(v1, 1, { state: 'pending', created: 0 });
    const plan = planReplicated({ service: s, tasks: [older, replacement, newer], now: at(2) });
    assert.deepEqual(plan.shutdown.map((x) => x.task.id), [older.id], 'the older twin stops; the newer old task serves');
    assert.equal(plan.create.length, 0);
  });

  it('resumes from the stored state without repeating a step: slots already done stay done', () => {
    const s = v2();
    const done = [task(s, 1, { created: 1 }), task(s, 2, { created: 1 })];
    const records = Object.fromEntries(done.map((t) => [t.id, { slot: t.slot, readySince: at(2), passed: true }]));
    const tasks = [...done, task(v1, 3), task(v1, 4)];
    const plan = planReplicated({ service: s, tasks, now: at(30), update: update({ steps: 1, tasks: records, stepDoneAt: at(8) }) });
    assert.deepEqual(plan.shutdown.map((x) => x.task.slot), [3, 4]);
    assert.equal(plan.create.length, 0);
    assert.equal(plan.update?.steps, 2);
  });

  it('paused: replaces nothing; a scale-up during the rollout gets the new spec directly', () => {
    const s = v2();
    assert.equal(planReplicated({ service: s, tasks: old(), now: at(1), update: update({ state: UpdateState.Paused }) }).shutdown.length, 0);
    const scaled = { ...s, spec: { ...s.spec, replicas: 5 } };
    const plan = planReplicated({ service: scaled, tasks: old(), now: at(1), update: update() });
    assert.deepEqual(plan.create.map((t) => [t.slot, t.spec.env?.GREETING, t.revision]), [[5, 'two', 2]]);
    assert.equal(plan.shutdown.length, 0, 'the empty slot is in flight: the next step waits for it');
  });

  it('no state yet: outdated tasks start a rollout of the current revision; a scale alone does not', () => {
    const plan = planReplicated({ service: v2(), tasks: old(), now: at(1) });
    assert.equal(plan.update?.revision, 2);
    assert.equal(plan.update?.state, UpdateState.Updating);
    const scaleOnly = planReplicated({ service: { ...v1, spec: { ...v1.spec, replicas: 5 } }, tasks: old(), now: at(1) });
    assert.equal(scaleOnly.update, undefined);
  });

  it('node loss during a rollout: tasks on the down node are refilled with the new spec, no failure counted', () => {
    const s = v2();
    const fresh = [task(s, 1, { created: 1 }), task(s, 2, { created: 1 })];
    const tasks = [...fresh, task(v1, 3), task(v1, 4)];
    fresh[1]!.nodeId = 'n2';
    tasks[3]!.nodeId = 'n2';
    const nodes = ['n1', 'n2'].map((id) => ({
      id, name: id, labels: {}, availability: 'active' as const, runtime: 'docker', createdAt: at(0),
      status: { state: id === 'n2' ? ('down' as const) : ('ready' as const), timestamp: at(0) },
      capacity: { cpu: 1000, memory: 1 << 30 }, allocatable: { cpu: 1000, memory: 1 << 30 },
    }));
    const plan = planReplicated({ service: s, tasks, now: at(3), nodes, update: update({ steps: 1 }) });
    assert.deepEqual(plan.orphan.map((o) => o.task.slot).sort(), [2, 4]);
    assert.deepEqual(plan.create.map((t) => [t.slot, t.spec.env?.GREETING]).sort(), [[2, 'two'], [4, 'two']]);
    assert.equal(plan.update?.failures ?? 0, 0);
    assert.notEqual(plan.update?.state, UpdateState.Paused);
  });

  it('global services: the rollout completes once no task of an older spec is left', () => {
    const g1 = { ...v1, spec: { ...v1.spec, mode: 'global' as const, replicas: undefined } };
    const g2 = { ...v2(), spec: { ...v2().spec, mode: 'global' as const, replicas: undefined } };
    const node = { id: 'n1', name: 'n1', labels: {}, availability: 'active' as const, runtime: 'docker', createdAt: at(0), status: { state: 'ready' as const, timestamp: at(0) }, capacity: { cpu: 1, memory: 1 }, allocatable: { cpu: 1, memory: 1 } };
    const p1 = planGlobal({ service: g2, tasks: [task(g1, 0)], nodes: [node], now: at(1), update: update() });
    assert.equal(p1.shutdown.length, 1);
    assert.equal(p1.update, undefined, 'still updating');
    const p2 = planGlobal({ service: g2, tasks: [task(g2, 0, { created: 2 })], nodes: [node], now: at(3), update: update() });
    assert.equal(p2.update?.state, UpdateState.Completed);
  });

  it('summarizes what changed between two specs', () => {
    assert.equal(summarizeChange(undefined, { image: 'berth/web:1' }), 'image berth/web:1');
    assert.equal(
      summarizeChange({ image: 'a:1', env: { A: '1', B: '2' }, replicas: 2 }, { image: 'a:2', env: { A: '1', C: '3' }, replicas: 5, command: ['x'] }),
      'image a:1 -> a:2; env B, C; command',
    );
    assert.equal(summarizeChange({ image: 'a' }, { image: 'a' }, true), 'restart');
  });
});
