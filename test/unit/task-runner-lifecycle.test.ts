// The pure decisions behind the task runner and the worker.
import assert from 'node:assert/strict';
import type { Instance } from '../../agent/driver/driver.js';
import { StatusReason, advanceStatus, exitOutcome, mayStartFresh, planAdoption } from '../../agent/worker/lifecycle.js';

const now = new Date('2026-01-01T00:00:00Z');

function inst(id: string, taskId: string, running: boolean): Instance {
  return { id, taskId, taskName: taskId, serviceName: 's', slot: 1, running, started: true, hostPorts: [] };
}

describe('task lifecycle decisions', () => {
  it('only moves observed state forward and never past a terminal state', () => {
    const running = { state: 'running' as const, timestamp: '', containerId: 'c1' };
    assert.equal(advanceStatus(running, 'starting', {}, now), undefined);
    const failed = advanceStatus(running, 'failed', { exitCode: 1 }, now);
    assert.deepEqual(failed, { state: 'failed', timestamp: now.toISOString(), containerId: 'c1', exitCode: 1 });
    assert.equal(advanceStatus(failed, 'shutdown', {}, now), undefined, 'failed stays failed');
    assert.equal(advanceStatus(running, 'running', { hostPorts: [] }, now)?.containerId, 'c1', 'same state with more details');
  });

  it('reads an exit as complete, failed or shutdown', () => {
    assert.equal(exitOutcome({ exitCode: 0, lastOutput: '' }, false).state, 'complete');
    const f = exitOutcome({ exitCode: 137, lastOutput: 'x', error: 'out of memory (OOM killed)' }, false);
    assert.equal(f.state, 'failed');
    assert.equal(f.reason, StatusReason.ContainerExited);
    assert.equal(f.message, 'exited with code 137: out of memory (OOM killed)');
    assert.equal(exitOutcome({ exitCode: 143, lastOutput: '' }, true).state, 'shutdown');
  });

  it('starts fresh only tasks not yet accepted here', () => {
    assert.equal(mayStartFresh('assigned'), true);
    assert.equal(mayStartFresh('accepted'), false);
    assert.equal(mayStartFresh('running'), false);
  });

  it('adopts one instance per assigned task, preferring a running one, and discards the rest', () => {
    const found = [inst('a-old', 'a', false), inst('a-new', 'a', true), inst('b', 'b', true), inst('z', 'z', true)];
    const plan = planAdoption(new Set(['a', 'b']), found);
    assert.deepEqual(
      [...plan.adopt].map(([t, i]) => [t, i.id]),
      [
        ['a', 'a-new'],
        ['b', 'b'],
      ],
    );
    assert.deepEqual(plan.discard.map((i) => i.id).sort(), ['a-old', 'z']);
  });
});
