// Which events a status change or a scheduling decision records: pure functions, plain tasks.
import assert from 'node:assert/strict';
import type { Task, TaskStatus } from '../../common/types.js';
import { taskStatusEvents } from '../../control-plane/dispatcher/task-events.js';
import { placementEvent } from '../../control-plane/scheduler/placement-events.js';
import { task as buildTask } from '../helpers/builders.js';

const at = '2026-01-10T12:00:00Z';
function task(status: Partial<TaskStatus>): Task {
  return buildTask({ id: 'abc', spec: { image: 'x' }, nodeId: 'n1', status: { state: 'starting', timestamp: at, ...status }, createdAt: at });
}
const brief = (t: Task | undefined, next: Task) => taskStatusEvents(t, next, 'node-a').map((e) => [e.type, e.reason, e.message]);

describe('event reasons', () => {
  it('a task reaching running is started on its node, once', () => {
    const running = task({ state: 'running' });
    assert.deepEqual(brief(task({}), running), [['Normal', 'TaskStarted', 'started on node-a']]);
    assert.deepEqual(brief(running, task({ state: 'running', containerId: 'c1' })), []);
  });

  it('a failure is a warning with the exit code and reason; completion and shutdown are normal', () => {
    const failed = task({ state: 'failed', exitCode: 3, reason: 'ContainerExited', message: 'panic: no config' });
    assert.deepEqual(brief(task({ state: 'running' }), failed), [['Warning', 'TaskFailed', 'failed with exit code 3, ContainerExited: panic: no config']]);
    assert.deepEqual(brief(task({ state: 'running' }), task({ state: 'complete', exitCode: 0 })), [['Normal', 'TaskCompleted', 'completed with exit code 0']]);
    assert.deepEqual(brief(task({ state: 'running' }), task({ state: 'shutdown' })).map((e) => e[1]), ['TaskStopped']);
  });

  it('unhealthy (by reason or by health) is one warning, not repeated', () => {
    const sick = task({ state: 'running', health: 'unhealthy', lastProbe: { time: at, ok: false, message: 'HTTP 500' } });
    assert.deepEqual(brief(task({ state: 'running', health: 'healthy' }), sick), [['Warning', 'TaskUnhealthy', 'health check failing: HTTP 500']]);
    assert.deepEqual(brief(sick, sick), []);
    const killed = task({ state: 'failed', reason: 'Unhealthy', health: 'unhealthy' });
    assert.deepEqual(brief(sick, killed).map((e) => e[1]), ['TaskFailed']);
  });

  it('the scheduler records placements and unschedulable explanations, naming the task and service', () => {
    const placed = placementEvent(task({ state: 'assigned', message: 'scheduled on node-a' }));
    assert.deepEqual(placed && [placed.reason, placed.message, placed.object, placed.service], ['TaskScheduled', 'scheduled on node-a', { kind: 'task', name: 'web.1.abc', id: 'abc' }, 'web']);
    const stuck = placementEvent(task({ state: 'pending', reason: 'Unschedulable', message: '0/1 nodes available: 1 insufficient memory' }));
    assert.deepEqual(stuck && [stuck.type, stuck.reason], ['Warning', 'TaskUnschedulable']);
  });
});
