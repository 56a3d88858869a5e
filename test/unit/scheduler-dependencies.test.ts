// The depends_on start gate (dependencies.ts): pure, plain tasks.
import assert from 'node:assert/strict';
import type { DependsOnSpec, Task } from '../../common/types.js';
import { dependencyChangeMatters, dependencyState, gateTasks, WAITING_FOR_DEPENDENCY } from '../../control-plane/scheduler/dependencies.js';
import { planWrites } from '../../control-plane/scheduler/writes.js';
import { placementEvent } from '../../control-plane/scheduler/placement-events.js';
import { task } from '../helpers/builders.js';

const HC = { exec: { command: ['true'] } };
const db = (over: Parameters<typeof task>[0] = {}): Task => task({ serviceName: 'db', spec: { image: 'db', healthCheck: HC }, ...over });
const web = (deps: DependsOnSpec[], over: Parameters<typeof task>[0] = {}): Task => task({ serviceName: 'web', spec: { image: 'web', dependsOn: deps }, ...over });

function gate(pending: Task[], all: Task[]) {
  return gateTasks(pending, (s) => all.filter((t) => t.serviceName === s));
}

describe('depends_on start gate (pure)', () => {
  it('a task without dependsOn is free', () => {
    const t = task();
    assert.deepEqual(gate([t], []), { free: [t], waiting: [], awaited: new Set() });
  });

  it('started: held until a task of the dependency runs', () => {
    const w = web([{ service: 'db', condition: 'started' }]);
    const held = gate([w], [db({ state: 'assigned' })]);
    assert.deepEqual(held.free, []);
    assert.deepEqual(held.waiting, [{ taskId: w.id, reason: WAITING_FOR_DEPENDENCY, message: 'waiting for service db to start (0 running)' }]);
    assert.deepEqual([...held.awaited], ['db']);
    // starting (health unknown) is enough for `started`; no condition means started
    assert.deepEqual(gate([w], [db({ state: 'running', status: { health: 'starting' } })]).free, [w]);
    assert.deepEqual(gate([web([{ service: 'db' }])], [db({ state: 'running' })]).waiting, []);
  });

  it('healthy: held while the dependency runs but is not healthy yet; a service without a health check is healthy when running', () => {
    const w = web([{ service: 'db', condition: 'healthy' }]);
    const starting = gate([w], [db({ state: 'running', status: { health: 'starting' } }), db({ slot: 2, state: 'pending' })]);
    assert.equal(starting.waiting[0]?.message, 'waiting for service db to be healthy (1 running, 0 healthy)');
    assert.deepEqual(gate([w], [db({ state: 'running', status: { health: 'healthy' } })]).free, [w]);
    const plain = task({ serviceName: 'db', spec: { image: 'db' }, state: 'running' });
    assert.deepEqual(gate([w], [plain]).free, [w]);
    // a running task that is to stop does not count
    assert.equal(gate([w], [db({ state: 'running', desiredState: 'shutdown', status: { health: 'healthy' } })]).free.length, 0);
  });

  it('completed: held until the current run of the job is complete', () => {
    const w = web([{ service: 'migrate', condition: 'completed' }]);
    const job = (slot: number, state: Task['status']['state'], revision = 2): Task =>
      task({ serviceName: 'migrate', slot, revision, spec: { image: 'm', mode: 'job', completions: 2 }, state });
    assert.equal(gate([w], [job(1, 'complete'), job(2, 'running')]).waiting[0]?.message, 'waiting for service migrate to complete');
    assert.deepEqual(gate([w], [job(1, 'complete'), job(2, 'complete')]).free, [w]);
    // an older run's completions do not count for the newer run
    assert.equal(gate([w], [job(1, 'complete', 1), job(2, 'complete', 1), job(1, 'pending', 2)]).free.length, 0);
    assert.equal(dependencyState([job(1, 'failed'), job(2, 'complete')]).completed, false);
  });

  it('a dependency without tasks is waited for; every unmet dependency is named', () => {
    const w = web([{ service: 'db', condition: 'healthy' }, { service: 'cache' }, { service: 'queue' }]);
    const r = gate([w], [db({ state: 'running', status: { health: 'unhealthy' } }), task({ serviceName: 'queue', state: 'running' })]);
    assert.equal(r.waiting[0]?.message, 'waiting for service db to be healthy (1 running, 0 healthy), service cache (no tasks yet)');
    assert.deepEqual([...r.awaited].sort(), ['cache', 'db']);
  });

  it('asks for the tasks of each dependency once per call', () => {
    const asked: string[] = [];
    const deps: DependsOnSpec[] = [{ service: 'db' }];
    gateTasks([web(deps), web(deps, { slot: 2 }), web(deps, { slot: 3 })], (s) => (asked.push(s), []));
    assert.deepEqual(asked, ['db']);
  });

  it('a waiting task gets the reason and message written once, and a Normal TaskWaiting event', () => {
    const w = web([{ service: 'db' }], { version: 7 });
    const unplaceable = gate([w], []).waiting;
    const plan = planWrites({ placements: [], unplaceable }, new Map([[w.id, w]]), new Map(), '2026-01-01T00:00:01.000Z');
    const written = [...plan.written.values()][0]!;
    assert.equal(written.status.reason, WAITING_FOR_DEPENDENCY);
    assert.equal(written.status.state, 'pending');
    assert.equal(planWrites({ placements: [], unplaceable }, new Map([[w.id, written]]), new Map(), 'x').ops.length, 0);
    const ev = placementEvent(written);
    assert.deepEqual(ev && [ev.type, ev.reason, ev.message], ['Normal', 'TaskWaiting', 'waiting for service db (no tasks yet)']);
  });

  it('changes of a dependency worth a pass: state, health, desired state, creation, deletion', () => {
    const r = db({ state: 'running', status: { health: 'starting' } });
    assert.equal(dependencyChangeMatters(r, { ...r, status: { ...r.status, health: 'healthy' } }), true);
    assert.equal(dependencyChangeMatters(r, { ...r, status: { ...r.status, state: 'complete' } }), true);
    assert.equal(dependencyChangeMatters(r, { ...r, desiredState: 'shutdown' }), true);
    assert.equal(dependencyChangeMatters(undefined, r), true);
    assert.equal(dependencyChangeMatters(r, undefined), true);
    assert.equal(dependencyChangeMatters(r, { ...r, status: { ...r.status, lastProbe: { time: 't', ok: true, message: '' } } }), false);
  });
});
