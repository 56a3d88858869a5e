import assert from 'node:assert/strict';
import type { Task, TaskState } from '../../common/types.js';
import { mayChangePlan } from '../../control-plane/orchestrator/may-change-plan.js';
import { task as buildTask } from '../helpers/builders.js';

const NOW = '2026-01-01T00:00:00.000Z';

function task(id: string, service: string, state: TaskState, extra: Partial<Task> = {}): Task {
  return buildTask({ id, serviceName: service, nodeId: 'n1', state, status: { timestamp: NOW }, createdAt: NOW, ...extra });
}

const withState = (t: Task, state: TaskState, extra: Partial<Task['status']> = {}): Task => ({ ...t, status: { ...t.status, state, ...extra } });

describe('orchestrator: which task changes plan a service again', () => {
  it('an agent reporting steps between assigned and running does not plan the service again', () => {
    const t = task('a', 'web', 'assigned');
    assert.equal(mayChangePlan(t, withState(t, 'accepted', { message: 'accepted' })), false);
    assert.equal(mayChangePlan(withState(t, 'accepted'), withState(t, 'preparing')), false);
    assert.equal(mayChangePlan(withState(t, 'preparing'), withState(t, 'starting')), false);
  });

  it('placement, running, ending, health and desired-state changes plan it again', () => {
    const t = task('a', 'web', 'pending', { nodeId: undefined });
    assert.equal(mayChangePlan(t, { ...withState(t, 'assigned'), nodeId: 'n1' }), true);
    const starting = task('b', 'web', 'starting');
    assert.equal(mayChangePlan(starting, withState(starting, 'running')), true);
    assert.equal(mayChangePlan(starting, withState(starting, 'failed')), true);
    const running = withState(starting, 'running');
    assert.equal(mayChangePlan(running, withState(running, 'running', { health: 'unhealthy' })), true);
    assert.equal(mayChangePlan(running, { ...running, desiredState: 'shutdown' }), true);
  });
});
