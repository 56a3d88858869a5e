import assert from 'node:assert/strict';
import type { Node, Service, Task, TaskState, DesiredState } from '../../common/types.js';
import { planGlobal } from '../../control-plane/orchestrator/global.js';
import { planDeleted, planReplicated } from '../../control-plane/orchestrator/replicated.js';
import { makeNode, makeService, taskOf } from '../helpers/builders.js';

const NOW = '2026-01-01T00:00:00.000Z';
let seq = 0;

const svc = makeService;

function task(s: Service, slot: number, state: TaskState = 'running', desiredState: DesiredState = 'running', extra: Partial<Task> = {}): Task {
  seq++;
  return taskOf(s, {
    id: `t${String(seq).padStart(4, '0')}`,
    name: `${s.metadata.name}.${slot}.x${seq}`,
    slot,
    serviceVersion: 10,
    desiredState,
    nodeId: 'n1',
    state,
    status: { timestamp: NOW },
    createdAt: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`,
    version: seq,
    ...extra,
  });
}

const node = (id: string, extra: Partial<Node> = {}): Node => makeNode(id, { at: NOW, ...extra });

describe('orchestrator plan: replicated', () => {
  it('creates one pending task per empty slot, named service.slot.suffix', () => {
    const s = svc({ replicas: 3 });
    const plan = planReplicated({ service: s, tasks: [], now: NOW });
    assert.deepEqual(plan.create.map((t) => t.slot), [1, 2, 3]);
    for (const t of plan.create) {
      assert.match(t.name, new RegExp(`^web\\.${t.slot}\\.[a-z0-9]{5}$`));
      assert.equal(t.status.state, 'pending');
      assert.equal(t.desiredState, 'running');
      assert.equal(t.spec.image, 'berth/web');
      assert.equal(t.nodeId, undefined);
    }
    assert.equal(new Set(plan.create.map((t) => t.id)).size, 3);
  });

  it('scales up by filling only the missing slots', () => {
    const s = svc({ replicas: 5 });
    const plan = planReplicated({ service: s, tasks: [task(s, 1), task(s, 2), task(s, 3)], now: NOW });
    assert.deepEqual(plan.create.map((t) => t.slot), [4, 5]);
    assert.equal(plan.shutdown.length, 0);
  });

  it('scales down by shutting down the highest slots, then removes them once stopped', () => {
    const s = svc({ replicas: 1 });
    const tasks = [task(s, 1), task(s, 2), task(s, 3)];
    const plan = planReplicated({ service: s, tasks, now: NOW });
    assert.deepEqual(plan.shutdown.map((x) => x.task.slot).sort(), [2, 3]);
    assert.ok(plan.shutdown.every((x) => x.desiredState === 'shutdown'));
    assert.equal(plan.create.length, 0);
    const stopped = [task(s, 1), task(s, 2, 'shutdown', 'shutdown'), task(s, 3, 'running', 'shutdown')];
    const next = planReplicated({ service: s, tasks: stopped, now: NOW });
    assert.deepEqual(next.remove.map((t) => t.slot), [2], 'slot 3 still runs: not removed yet');
    assert.equal(next.shutdown.length, 0);
  });

  it('removes a never-placed surplus task at once', () => {
    const s = svc({ replicas: 0 });
    const pending = task(s, 1, 'pending', 'shutdown', { nodeId: undefined });
    assert.deepEqual(planReplicated({ service: s, tasks: [pending], now: NOW }).remove, [pending]);
  });

  it('replaces a task that ended by itself, keeping it as history (restart policy any)', () => {
    const s = svc({ replicas: 1 });
    const failed = task(s, 1, 'failed');
    const plan = planReplicated({ service: s, tasks: [failed], now: NOW });
    assert.equal(plan.create.length, 1);
    assert.equal(plan.create[0]!.slot, 1);
    assert.deepEqual(plan.shutdown.map((x) => x.task.id), [failed.id]);
    assert.equal(plan.remove.length, 0);
  });

  it('honours restart policy none and on-failure', () => {
    const none = svc({ replicas: 1, restartPolicy: { condition: 'none' } });
    assert.equal(planReplicated({ service: none, tasks: [task(none, 1, 'failed')], now: NOW }).create.length, 0);
    const onFailure = svc({ replicas: 1, restartPolicy: { condition: 'on-failure' } });
    assert.equal(planReplicated({ service: onFailure, tasks: [task(onFailure, 1, 'complete')], now: NOW }).create.length, 0);
    assert.equal(planReplicated({ service: onFailure, tasks: [task(onFailure, 1, 'failed')], now: NOW }).create.length, 1);
  });

  it('changing only replicas restarts nothing', () => {
    const s = svc({ replicas: 2 });
    const tasks = [task(s, 1), task(s, 2)];
    const plan = planReplicated({ service: { ...s, spec: { ...s.spec, replicas: 3 } }, tasks, now: NOW });
    assert.equal(plan.shutdown.length, 0);
    assert.equal(plan.create.length, 1);
  });

  it('a new image replaces tasks stop-first, parallelism slots at a time', () => {
    const old = svc({ replicas: 4, image: 'berth/web:1' });
    const tasks = [1, 2, 3, 4].map((slot) => task(old, slot));
    const next = svc({ replicas: 4, image: 'berth/web:2', update: { parallelism: 2 } });
    const plan = planReplicated({ service: next, tasks, now: NOW });
    assert.equal(plan.shutdown.length, 2, 'two slots at a time');
    assert.equal(plan.create.length, 0, 'stop-first: nothing new before the old stops');
  });

  it('keeps at most three ended tasks per slot', () => {
    const s = svc({ replicas: 1 });
    const history = [1, 2, 3, 4, 5].map(() => task(s, 1, 'failed', 'shutdown'));
    const live = task(s, 1);
    const plan = planReplicated({ service: s, tasks: [...history, live], now: NOW });
    assert.equal(plan.remove.length, 2);
    assert.deepEqual(plan.remove.map((t) => t.id).sort(), history.slice(0, 2).map((t) => t.id).sort(), 'the oldest go');
  });

  it('deleting a service tells live tasks to go away and forgets finished ones', () => {
    const s = svc();
    const running = task(s, 1);
    const done = task(s, 2, 'shutdown', 'shutdown');
    const plan = planDeleted({ tasks: [running, done], now: NOW });
    assert.deepEqual(plan.shutdown.map((x) => [x.task.id, x.desiredState]), [[running.id, 'remove']]);
    assert.deepEqual(plan.remove, [done]);
  });
});

describe('orchestrator plan: global', () => {
  it('runs one task per eligible node, pinned to it', () => {
    const s = svc({ mode: 'global', replicas: undefined, placement: { constraints: ['node.labels.zone == a'] } });
    const nodes = [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } }), node('n3', { labels: { zone: 'a' } }), node('n4', { labels: { zone: 'a' }, availability: 'drain' })];
    const plan = planGlobal({ service: s, tasks: [], nodes: nodes, now: NOW });
    assert.deepEqual(plan.create.map((t) => t.nodeId).sort(), ['n1', 'n3']);
    assert.ok(plan.create.every((t) => t.slot === 0 && t.status.state === 'pending'));
  });

  it('stops the task of a node that no longer qualifies', () => {
    const s = svc({ mode: 'global', replicas: undefined, placement: { constraints: ['node.labels.zone == a'] } });
    const t = task(s, 0, 'running', 'running', { nodeId: 'n1' });
    const plan = planGlobal({ service: s, tasks: [t], nodes: [node('n1', { labels: { zone: 'b' } })], now: NOW });
    assert.deepEqual(plan.shutdown.map((x) => x.task.id), [t.id]);
    assert.equal(plan.create.length, 0);
  });
});
