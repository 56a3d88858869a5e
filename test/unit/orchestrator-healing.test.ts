import assert from 'node:assert/strict';
import type { DesiredState, Node, Service, Task, TaskState } from '../../common/types.js';
import { nextRestarts, restartDelayMs } from '../../control-plane/orchestrator/backoff.js';
import { planGlobal } from '../../control-plane/orchestrator/global.js';
import { planReplicated } from '../../control-plane/orchestrator/replicated.js';
import { isSchedulable, nextRestartAt } from '../../control-plane/scheduler/placement.js';
import { makeNode, makeService, taskOf } from '../helpers/builders.js';

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
let seq = 0;

const svc = makeService;

function task(s: Service, slot: number, extra: Partial<Task> & { state?: TaskState; desired?: DesiredState; endedAt?: number } = {}): Task {
  seq++;
  const { state = 'running', desired = 'running', endedAt = 0, ...rest } = extra;
  return taskOf(s, {
    id: `t${String(seq).padStart(4, '0')}`,
    name: `${s.metadata.name}.${slot}.x${seq}`,
    slot,
    serviceVersion: 10,
    desiredState: desired,
    nodeId: 'n1',
    state,
    status: { timestamp: at(endedAt) },
    createdAt: at(-1000 + seq),
    version: seq,
    ...rest,
  });
}

const node = (id: string, extra: Partial<Node> = {}): Node => makeNode(id, { name: `node-${id}`, at: at(0), ...extra });

const down = (id: string): Node => node(id, { status: { state: 'down', timestamp: at(0) } });
const drain = (id: string): Node => node(id, { availability: 'drain' });

describe('orchestrator healing: restart backoff (pure, fake times)', () => {
  it('counts consecutive restarts of a slot and waits 0, 0, 1 s, 2 s, 4 s ... before them', () => {
    const s = svc({ replicas: 1 });
    const delays: number[] = [];
    let prev = task(s, 1, { state: 'failed', endedAt: 100 });
    for (let i = 1; i <= 6; i++) {
      const now = at(200 * i);
      const plan = planReplicated({ service: s, tasks: [prev], now });
      assert.equal(plan.create.length, 1);
      const next = plan.create[0]!;
      assert.equal(next.restarts, i);
      delays.push(next.restartAt ? Date.parse(next.restartAt) - Date.parse(now) : 0);
      // It crashes again at once, right after its backoff.
      prev = { ...next, nodeId: 'n1', version: 1000 + i, status: { state: 'failed', timestamp: next.restartAt ?? now } };
    }
    assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16000]);
  });

  it('writes the crash-loop reason and next retry on the waiting replacement', () => {
    const s = svc({ replicas: 1 });
    const ended = task(s, 1, { state: 'failed', restarts: 3, endedAt: 10 });
    const plan = planReplicated({ service: s, tasks: [ended], now: at(0) });
    const next = plan.create[0]!;
    assert.equal(next.restarts, 4);
    assert.equal(next.restartAt, at(4000));
    assert.equal(next.status.reason, 'CrashLoopBackOff');
    assert.equal(next.status.message, 'crash-looping: restart 4, next retry at 12:00:04 (in 4s)');
    assert.ok(plan.events.some((e) => e.reason === 'CrashLoopBackOff' && e.service === 'web'));
  });

  it('caps the delay at the configured maximum', () => {
    assert.equal(restartDelayMs(40, undefined, { maxMs: 30_000 }), 30_000);
    assert.equal(restartDelayMs(40, undefined), 300_000);
  });

  it('honours restartPolicy.delaySeconds for the first restart', () => {
    const s = svc({ replicas: 1, restartPolicy: { delaySeconds: 3 } });
    const plan = planReplicated({ service: s, tasks: [task(s, 1, { state: 'failed' })], now: at(0) });
    assert.equal(plan.create[0]!.restartAt, at(3000));
  });

  it('resets the count when the ended task had run for the reset window', () => {
    const s = svc({ replicas: 1 });
    const longLived = task(s, 1, { state: 'failed', restarts: 7, createdAt: at(-120_000), endedAt: 0 });
    assert.equal(nextRestarts(longLived, at(0)), 0);
    const plan = planReplicated({ service: s, tasks: [longLived], now: at(0) });
    assert.equal(plan.create[0]!.restarts, 0);
    assert.equal(plan.create[0]!.restartAt, undefined);
    assert.equal(nextRestarts(longLived, at(0), { resetWindowMs: 600_000 }), 8);
  });

  it('stops restarting after restartPolicy.maxAttempts', () => {
    const s = svc({ replicas: 1, restartPolicy: { maxAttempts: 2 } });
    assert.equal(planReplicated({ service: s, tasks: [task(s, 1, { state: 'failed', restarts: 1 })], now: at(0) }).create.length, 1);
    const plan = planReplicated({ service: s, tasks: [task(s, 1, { state: 'failed', restarts: 2 })], now: at(0) });
    assert.equal(plan.create.length, 0);
    assert.equal(plan.shutdown.length, 0);
  });

  it('the scheduler does not place a task before its restartAt, and knows when to look again', () => {
    const s = svc();
    const waiting = task(s, 1, { state: 'pending', restartAt: at(5000) });
    assert.equal(isSchedulable(waiting, T0), false);
    assert.equal(isSchedulable(waiting, T0 + 5000), true);
    assert.equal(isSchedulable(waiting), true);
    assert.equal(nextRestartAt([waiting, task(s, 2, { state: 'pending', restartAt: at(2000) })], T0), T0 + 2000);
  });
});

describe('orchestrator healing: node down (pure)', () => {
  it('orphans the live tasks of a down node and refills their slots at once, leaving other nodes alone', () => {
    const s = svc({ replicas: 3 });
    const onDown = [task(s, 1, { nodeId: 'n1' }), task(s, 2, { nodeId: 'n1', state: 'starting' })];
    const elsewhere = task(s, 3, { nodeId: 'n2' });
    const plan = planReplicated({ service: s, tasks: [...onDown, elsewhere], now: at(0), nodes: [down('n1'), node('n2')] });
    assert.deepEqual(plan.orphan.map((o) => o.task.id).sort(), onDown.map((t) => t.id).sort());
    for (const { next } of plan.orphan) {
      assert.equal(next.status.state, 'orphaned');
      assert.equal(next.desiredState, 'shutdown');
      assert.equal(next.status.message, 'node node-n1 is down');
    }
    assert.deepEqual(plan.create.map((t) => t.slot).sort(), [1, 2]);
    assert.ok(plan.create.every((t) => !t.restartAt && t.status.state === 'pending' && !t.nodeId));
    assert.deepEqual(plan.shutdown, []);
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.events.filter((e) => e.reason === 'TaskOrphaned').length, 2);
    assert.equal(plan.events.filter((e) => e.reason === 'Rescheduled').length, 2);
  });

  it('orphans a task still stopping on a down node, so the slot is not stuck', () => {
    const s = svc({ replicas: 1 });
    const stopping = task(s, 1, { desired: 'shutdown' });
    const plan = planReplicated({ service: s, tasks: [stopping], now: at(0), nodes: [down('n1')] });
    assert.equal(plan.orphan.length, 1);
    assert.equal(plan.create.length, 1);
  });

  it('never writes one task twice in a plan (orphaned scaled-down task)', () => {
    const s = svc({ replicas: 1 });
    const surplus = task(s, 2);
    const plan = planReplicated({ service: s, tasks: [task(s, 1, { nodeId: 'n2' }), surplus], now: at(0), nodes: [down('n1'), node('n2')] });
    assert.equal(plan.orphan.length, 1);
    assert.ok(!plan.remove.includes(surplus) && !plan.shutdown.some((x) => x.task === surplus));
  });

  it('global: the down node task is orphaned and not replaced anywhere; its history stays', () => {
    const s = svc({ mode: 'global' });
    const t1 = task(s, 0, { nodeId: 'n1' });
    const t2 = task(s, 0, { nodeId: 'n2' });
    const plan = planGlobal({ service: s, tasks: [t1, t2], nodes: [down('n1'), node('n2')], now: at(0) });
    assert.deepEqual(plan.orphan.map((o) => o.task.id), [t1.id]);
    assert.deepEqual(plan.create, []);
    const orphaned = plan.orphan[0]!.next;
    const later = planGlobal({ service: s, tasks: [orphaned, t2], nodes: [down('n1'), node('n2')], now: at(1000) });
    assert.deepEqual(later.remove, []);
    assert.deepEqual(later.create, []);
  });

  it('global: a paused node keeps its task but gets no new one', () => {
    const s = svc({ mode: 'global' });
    const kept = task(s, 0, { nodeId: 'n1' });
    const plan = planGlobal({ service: s, tasks: [kept], nodes: [node('n1', { availability: 'pause' }), node('n2', { availability: 'pause' })], now: at(0) });
    assert.deepEqual(plan.shutdown, []);
    assert.deepEqual(plan.create, []);
  });
});

describe('orchestrator healing: drain (pure)', () => {
  it('moves one slot at a time by default, the next only once the replacement runs', () => {
    const s = svc({ replicas: 3 });
    let tasks = [task(s, 1), task(s, 2), task(s, 3)];
    const nodes = [drain('n1'), node('n2')];
    const first = planReplicated({ service: s, tasks, now: at(0), nodes });
    assert.equal(first.shutdown.length, 1);
    assert.equal(first.shutdown[0]!.reason, 'moved off a draining node');
    assert.ok(first.events.some((e) => e.reason === 'TaskMoved'));
    const moved = first.shutdown[0]!.task;

    // Still stopping: nothing else moves.
    tasks = tasks.map((t) => (t === moved ? { ...t, desiredState: 'shutdown' as const } : t));
    assert.equal(planReplicated({ service: s, tasks, now: at(1), nodes }).shutdown.length, 0);

    // Stopped: its slot gets a fresh task, still nothing else moves.
    tasks = tasks.map((t) => (t.id === moved.id ? { ...t, status: { state: 'shutdown' as const, timestamp: at(2) } } : t));
    const refill = planReplicated({ service: s, tasks, now: at(2), nodes });
    assert.equal(refill.create.length, 1);
    assert.equal(refill.create[0]!.slot, moved.slot);
    assert.equal(refill.shutdown.length, 0);

    // Replacement placed but not running yet: still waiting.
    const repl = { ...refill.create[0]!, nodeId: 'n2', version: 500, status: { state: 'starting' as const, timestamp: at(3) } };
    tasks = [...tasks, repl];
    assert.equal(planReplicated({ service: s, tasks, now: at(3), nodes }).shutdown.length, 0);

    // Running: the next slot moves.
    tasks = tasks.map((t) => (t === repl ? { ...t, status: { state: 'running' as const, timestamp: at(4) } } : t));
    const next = planReplicated({ service: s, tasks, now: at(4), nodes });
    assert.equal(next.shutdown.length, 1);
    assert.notEqual(next.shutdown[0]!.task.slot, moved.slot);
  });

  it('moves update.parallelism slots at a time', () => {
    const s = svc({ replicas: 5, update: { parallelism: 2 } });
    const plan = planReplicated({ service: s, tasks: [1, 2, 3, 4, 5].map((i) => task(s, i)), now: at(0), nodes: [drain('n1'), node('n2')] });
    assert.equal(plan.shutdown.length, 2);
  });

  it('leaves tasks of other nodes and of paused nodes in place', () => {
    const s = svc({ replicas: 2 });
    const plan = planReplicated({ service: s, tasks: [task(s, 1, { nodeId: 'n2' }), task(s, 2, { nodeId: 'n3' })], now: at(0), nodes: [drain('n1'), node('n2'), node('n3', { availability: 'pause' })] });
    assert.deepEqual(plan.shutdown, []);
  });

  it('global: the task of a drained node is shut down', () => {
    const s = svc({ mode: 'global' });
    const t1 = task(s, 0, { nodeId: 'n1' });
    const plan = planGlobal({ service: s, tasks: [t1], nodes: [drain('n1')], now: at(0) });
    assert.deepEqual(plan.shutdown.map((x) => x.task.id), [t1.id]);
  });
});
