// The task state machine: forward moves only, nothing after an end, and the agent's and the
// dispatcher's decisions agree with it.
import assert from 'node:assert/strict';
import { advanceStatus } from '../../agent/worker/lifecycle.js';
import { isBeforeAgent, isTerminal, mayMove, nextStates, TASK_STATE_ORDER, taskStateMove } from '../../common/task-states.js';
import type { Task } from '../../common/types.js';
import { decideStatus } from '../../control-plane/dispatcher/rules.js';

const NOW = '2026-01-01T12:00:00.000Z';

describe('task state machine', () => {
  it('orders the states as the wire protocol does, the ended ones last', () => {
    assert.deepEqual(TASK_STATE_ORDER, ['new', 'pending', 'assigned', 'accepted', 'preparing', 'starting', 'running', 'complete', 'failed', 'shutdown', 'rejected', 'orphaned']);
    assert.deepEqual(
      TASK_STATE_ORDER.filter(isTerminal),
      ['complete', 'failed', 'shutdown', 'rejected', 'orphaned'],
    );
  });

  it('moves forward only, repeats a state that has not ended, and ends for good', () => {
    assert.equal(taskStateMove('assigned', 'running'), 'advance');
    assert.equal(taskStateMove('running', 'running'), 'repeat');
    assert.equal(taskStateMove('running', 'starting'), 'stale');
    assert.equal(taskStateMove('failed', 'failed'), 'final');
    assert.equal(taskStateMove('complete', 'orphaned'), 'final');
    assert.ok(mayMove('pending', 'assigned'));
    assert.ok(!mayMove('shutdown', 'running'));
    assert.deepEqual(nextStates('running'), ['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);
    for (const s of TASK_STATE_ORDER.filter(isTerminal)) assert.deepEqual(nextStates(s), []);
  });

  it('a task is the agent\'s from accepted on', () => {
    assert.deepEqual(TASK_STATE_ORDER.filter(isBeforeAgent), ['new', 'pending', 'assigned']);
  });

  it('the agent and the dispatcher follow it for every pair of states', () => {
    for (const from of TASK_STATE_ORDER) {
      for (const to of TASK_STATE_ORDER) {
        const status = { state: from, timestamp: NOW };
        const agent = advanceStatus(status, to, { message: 'x' }, new Date(NOW));
        assert.equal(agent !== undefined, mayMove(from, to), `agent ${from} -> ${to}`);
        const task = { id: 't', nodeId: 'n1', status } as Task;
        const decision = decideStatus(task, 'n1', { state: to, timestamp: NOW, message: 'x' });
        assert.equal(decision.kind === 'write', mayMove(from, to), `dispatcher ${from} -> ${to}`);
      }
    }
  });
});
