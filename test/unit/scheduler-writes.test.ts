import assert from 'node:assert/strict';
import type { Node, Task } from '../../common/types.js';
import { nodeChangeMatters, taskChangeMatters } from '../../control-plane/scheduler/triggers.js';
import { planWrites } from '../../control-plane/scheduler/writes.js';
import { node as buildNode, task as buildTask } from '../helpers/builders.js';

const NOW = '2024-06-01T12:00:00.000Z';

function node(name: string, over: Partial<Node> = {}): Node {
  return buildNode({ id: `id-${name}`, name, labels: { zone: 'a' }, capacity: { cpu: 1000, memory: 1024 }, allocatable: { cpu: 1000, memory: 1024 }, at: '2024-01-01T00:00:00.000Z', ...over });
}

function task(id: string, over: Partial<Task> = {}): Task {
  const at = '2024-01-01T00:00:00.000Z';
  return buildTask({ id, name: 'web.1', serviceVersion: 3, spec: { image: 'nginx' }, status: { timestamp: at }, createdAt: at, version: 42, ...over });
}

describe('scheduler writes (pure)', () => {
  it('assigns a placed task, conditional on the version it was decided from', () => {
    const t = task('t1', { status: { state: 'pending', timestamp: 'old', reason: 'Unschedulable', message: '0/0 nodes available: no nodes available' } });
    const plan = planWrites(
      { placements: [{ taskId: 't1', nodeId: 'id-a' }], unplaceable: [] },
      new Map([['t1', t]]),
      new Map([['id-a', node('a')]]),
      NOW,
    );
    assert.equal(plan.ops.length, 1);
    const op = plan.ops[0]!;
    assert.equal(op.type, 'put');
    assert.equal(op.key, 'tasks/web/t1');
    assert.equal(op.type === 'put' && op.version, 42);
    const value = (op as { value: Task }).value;
    assert.equal(value.nodeId, 'id-a');
    assert.deepEqual(value.status, { state: 'assigned', timestamp: NOW, message: 'scheduled on a' });
    assert.deepEqual(value.spec, t.spec, 'the spec copy is untouched');
    assert.equal(plan.written.get('tasks/web/t1')?.version, 42);
  });

  it('writes an explanation only when it differs from the stored one', () => {
    const same = task('same', { status: { state: 'pending', timestamp: 'T', reason: 'Unschedulable', message: 'm1' } });
    const changed = task('changed', { status: { state: 'pending', timestamp: 'T', reason: 'Unschedulable', message: 'm0' } });
    const fresh = task('fresh');
    const plan = planWrites(
      {
        placements: [],
        unplaceable: [
          { taskId: 'same', message: 'm1' },
          { taskId: 'changed', message: 'm1' },
          { taskId: 'fresh', message: 'm1' },
        ],
      },
      new Map([same, changed, fresh].map((t) => [t.id, t])),
      new Map(),
      NOW,
    );
    assert.deepEqual(plan.ops.map((o) => o.key), ['tasks/web/changed', 'tasks/web/fresh']);
    for (const op of plan.ops) {
      const status = (op as { value: Task }).value.status;
      assert.equal(status.state, 'pending');
      assert.equal(status.reason, 'Unschedulable');
      assert.equal(status.message, 'm1');
    }
    assert.equal((plan.ops[0] as { value: Task }).value.status.timestamp, 'T', 'an explanation is not a state change');
  });
});

describe('scheduler triggers (pure)', () => {
  it('a new or changed pending task wanted running calls for a pass; progress of a placed task does not', () => {
    assert.ok(taskChangeMatters(undefined, task('a')));
    const assigned = task('a', { nodeId: 'id-a', status: { state: 'assigned', timestamp: '' } });
    const running = { ...assigned, status: { state: 'running' as const, timestamp: '' } };
    assert.ok(taskChangeMatters(task('a'), assigned), 'a node got busier');
    assert.ok(!taskChangeMatters(assigned, running), 'still holds the same node');
  });

  it('a task ending, being shut down or deleted frees its node and calls for a pass', () => {
    const running = task('a', { nodeId: 'id-a', status: { state: 'running', timestamp: '' } });
    assert.ok(taskChangeMatters(running, { ...running, status: { state: 'failed', timestamp: '' } }));
    assert.ok(taskChangeMatters(running, { ...running, desiredState: 'shutdown' }));
    assert.ok(taskChangeMatters(running, undefined));
    assert.ok(!taskChangeMatters(task('p'), undefined), 'a pending task held nothing');
  });

  it('node changes that matter: joins, leaves, state, availability, labels, allocatable; a heartbeat does not', () => {
    const n = node('a');
    assert.ok(nodeChangeMatters(undefined, n));
    assert.ok(nodeChangeMatters(n, undefined));
    assert.ok(nodeChangeMatters(n, { ...n, status: { ...n.status, state: 'down' } }));
    assert.ok(nodeChangeMatters(n, { ...n, availability: 'drain' }));
    assert.ok(nodeChangeMatters(n, { ...n, labels: { zone: 'b' } }));
    assert.ok(nodeChangeMatters(n, { ...n, labels: { zone: 'a', disk: 'ssd' } }));
    assert.ok(nodeChangeMatters(n, { ...n, allocatable: { cpu: 2000, memory: 1024 } }));
    assert.ok(!nodeChangeMatters(n, { ...n, status: { ...n.status, timestamp: 'later' } }));
  });
});
