// The pure rules of the dispatcher protocol: what an agent is told, which status reports are
// written, when a node counts as down, and how an agent spaces its reconnects.
import assert from 'node:assert/strict';
import { backoffDelay, delayBeforeFence } from '../../agent/session/backoff.js';
import type { Task, TaskStatus } from '../../common/types.js';
import { assignmentDeltas, decideStatus, expiredNodes } from '../../control-plane/dispatcher/rules.js';
import { task as buildTask } from '../helpers/builders.js';

const at = (state: TaskStatus['state'], extra: Partial<TaskStatus> = {}): TaskStatus => ({ state, timestamp: new Date().toISOString(), ...extra });
const task = (over: Partial<Task> = {}): Task =>
  buildTask({ id: 't1', name: 'web.1.a', serviceVersion: 3, spec: { image: 'nginx' }, nodeId: 'n1', status: at('assigned'), createdAt: '2026-01-01T00:00:00.000Z', ...over });

describe('dispatcher rules', () => {
  it('tells agents about new, changed, moved and deleted tasks, not about status writes', () => {
    assert.deepEqual(assignmentDeltas(undefined, task()), [{ nodeId: 'n1', change: 'upsert' }]);
    assert.deepEqual(assignmentDeltas(task(), task({ status: at('running', { containerId: 'c' }) })), []);
    assert.deepEqual(assignmentDeltas(task(), task({ desiredState: 'shutdown' })), [{ nodeId: 'n1', change: 'upsert' }]);
    assert.deepEqual(assignmentDeltas(task(), task({ spec: { image: 'nginx:2' } })), [{ nodeId: 'n1', change: 'upsert' }]);
    assert.deepEqual(assignmentDeltas(task(), task({ nodeId: 'n2' })), [
      { nodeId: 'n1', change: 'remove' },
      { nodeId: 'n2', change: 'upsert' },
    ]);
    assert.deepEqual(assignmentDeltas(task(), undefined), [{ nodeId: 'n1', change: 'remove' }]);
    assert.deepEqual(assignmentDeltas(task({ nodeId: undefined }), task({ nodeId: undefined, desiredState: 'remove' })), []);
  });

  it('writes status only forward, only from the node the task is assigned to', () => {
    assert.deepEqual(decideStatus(task(), 'n1', at('running')), { kind: 'write' });
    assert.equal(decideStatus(task({ status: at('running') }), 'n1', at('starting')).kind, 'ignore');
    assert.deepEqual(decideStatus(task({ status: at('running') }), 'n1', at('running')), { kind: 'ignore', why: 'unchanged' });
    assert.deepEqual(decideStatus(task({ status: at('running') }), 'n1', at('running', { containerId: 'c1' })), { kind: 'write' });
    assert.deepEqual(decideStatus(task({ status: at('orphaned') }), 'n1', at('orphaned', { message: 'x' })), { kind: 'ignore', why: 'final' });
    assert.deepEqual(decideStatus(task({ status: at('failed') }), 'n1', at('shutdown')), { kind: 'ignore', why: 'final' });
    const other = decideStatus(task(), 'n2', at('running'));
    assert.equal(other.kind === 'reject' && other.reason, 'NotAssignedToNode');
    const missing = decideStatus(undefined, 'n1', at('running'));
    assert.equal(missing.kind === 'reject' && missing.reason, 'TaskNotFound');
  });

  it('writes a health change of a running task, but never a backward state carrying one', () => {
    const probe = { time: '2026-01-01T00:00:01.000Z', ok: true, message: 'GET http://10.0.0.2:8080/ -> 200' };
    const starting = task({ status: at('running', { containerId: 'c1', health: 'starting' }) });
    const healthy = at('running', { containerId: 'c1', health: 'healthy', lastProbe: probe });
    assert.deepEqual(decideStatus(starting, 'n1', healthy), { kind: 'write' });
    // The same health with a newer probe is news for `describe task`.
    const later = at('running', { containerId: 'c1', health: 'healthy', lastProbe: { ...probe, time: '2026-01-01T00:00:09.000Z' } });
    assert.deepEqual(decideStatus(task({ status: healthy }), 'n1', later), { kind: 'write' });
    // A resend of what is stored (after a reconnect) is not.
    assert.deepEqual(decideStatus(task({ status: healthy }), 'n1', { ...healthy, timestamp: 'later' }), { kind: 'ignore', why: 'unchanged' });
    assert.deepEqual(decideStatus(task({ status: healthy }), 'n1', at('starting', { health: 'unhealthy' })), { kind: 'ignore', why: 'stale' });
    assert.deepEqual(decideStatus(task({ status: at('failed', { reason: 'Unhealthy' }) }), 'n1', healthy), { kind: 'ignore', why: 'final' });
  });

  it('finds nodes silent for longer than the grace period, once', () => {
    const seen = new Map([
      ['a', 1000],
      ['b', 4000],
      ['c', 500],
    ]);
    assert.deepEqual(expiredNodes(seen, new Set(['c']), 6500, 5000), ['a']);
    assert.deepEqual(expiredNodes(seen, new Set(), 5000, 5000), []);
  });

  it('backs off exponentially up to the cap, with full jitter', () => {
    const opts = { initialMs: 200, maxMs: 10_000 };
    assert.equal(backoffDelay(0, opts, () => 0.999999), 199);
    assert.equal(backoffDelay(3, opts, () => 0.5), 800);
    assert.equal(backoffDelay(20, opts, () => 0.5), 5000);
    assert.equal(backoffDelay(5, opts, () => 0), 0);
  });

  it('never sleeps past the last reconnect attempt before fencing', () => {
    // Fencing at t=15000 with a 2000 ms lead: a 10 s backoff at t=8000 is cut to 5000 ms.
    assert.equal(delayBeforeFence(10_000, 8000, 15_000, 2000), 5000);
    assert.equal(delayBeforeFence(1000, 8000, 15_000, 2000), 1000, 'a short backoff is kept');
    assert.equal(delayBeforeFence(10_000, 14_000, 15_000, 2000), 10_000, 'past the last chance: plain backoff');
    assert.equal(delayBeforeFence(10_000, 0, undefined, 2000), 10_000, 'no fence planned');
  });
});
