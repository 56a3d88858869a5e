// How health travels in a task's status: reports that only change health keep the time the task
// started running, and a task stopped for being unhealthy ends failed with reason Unhealthy.
import assert from 'node:assert/strict';
import { StatusReason, advanceStatus, exitOutcome } from '../../agent/worker/lifecycle.js';
import type { TaskStatus } from '../../common/types.js';

describe('health in task status', () => {
  it('a health report keeps the time the task started running and its container', () => {
    const running: TaskStatus = { state: 'running', timestamp: '2026-01-01T00:00:00.000Z', containerId: 'c1', health: 'starting' };
    const lastProbe = { time: '2026-01-01T00:00:05.000Z', ok: true, message: 'TCP 10.0.0.2:80 -> connected' };
    const next = advanceStatus(running, 'running', { health: 'healthy', lastProbe }, new Date('2026-01-01T00:00:05Z'));
    assert.deepEqual(next, { state: 'running', timestamp: '2026-01-01T00:00:00.000Z', containerId: 'c1', health: 'healthy', lastProbe });
    const failed = advanceStatus(next, 'failed', { reason: StatusReason.Unhealthy }, new Date('2026-01-01T00:00:09Z'));
    assert.equal(failed?.timestamp, '2026-01-01T00:00:09.000Z');
  });

  it('an instance stopped for being unhealthy ends failed, Unhealthy, even though it exited on SIGTERM', () => {
    const out = exitOutcome({ exitCode: 0, lastOutput: 'bye' }, false, 'health check failed 3 times: GET http://10.0.0.2:80/ -> 500');
    assert.deepEqual(out, {
      state: 'failed',
      reason: 'Unhealthy',
      message: 'health check failed 3 times: GET http://10.0.0.2:80/ -> 500',
      exitCode: 0,
      lastOutput: 'bye',
    });
    assert.equal(exitOutcome({ exitCode: 0, lastOutput: '' }, true).state, 'shutdown', 'a plain stop is still a shutdown');
  });
});
