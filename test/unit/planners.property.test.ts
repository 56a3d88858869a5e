// Properties of the orchestrator's planners on generated services, tasks and nodes: after a plan
// is applied no slot (or node, for a global service) holds two live tasks of the current spec;
// a plan touches only the tasks it was given and creates tasks only of its own service; and
// planning again on the applied plan changes no task (the plan is a fixpoint).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { UpdateStatus } from '../../common/rollout.js';
import type { DesiredState, Node, Service, Task, TaskState } from '../../common/types.js';
import { mergePlans, type Plan, type PlanInput } from '../../control-plane/orchestrator/plan.js';
import { planService } from '../../control-plane/orchestrator/planners.js';
import { isLive, isOutdated } from '../../common/task-predicates.js';
import { newUpdateStatus } from '../../control-plane/orchestrator/update.js';
import { node, service, task } from '../helpers/builders.js';
import { fcParams } from '../helpers/property.js';

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const NOW = at(3600);

/** States a task is ever written in (new and rejected never are: common/task-states.ts). */
const STATES: TaskState[] = ['pending', 'assigned', 'accepted', 'preparing', 'starting', 'running', 'complete', 'failed', 'shutdown', 'orphaned'];
const DESIRED: DesiredState[] = ['running', 'running', 'shutdown', 'remove'];
const NODE_IDS = ['n1', 'n2', 'n3', 'n4'];

interface World {
  svc: Service;
  /** The spec before the last change: tasks running it are outdated. */
  old: Service;
  nodes: Node[];
  tasks: Task[];
  /** The stored rollout state, if any. */
  update: UpdateStatus | undefined;
}

const nodeArb = (id: string) =>
  fc.record({ state: fc.constantFrom('ready', 'ready', 'down'), availability: fc.constantFrom('active', 'active', 'pause', 'drain') }).map((n) =>
    node({ id, at: at(0), state: n.state as Node['status']['state'], availability: n.availability }),
  );

const worldArb: fc.Arbitrary<World> = fc
  .record({
    global: fc.boolean(),
    replicas: fc.integer({ min: 0, max: 5 }),
    order: fc.constantFrom('stop-first', 'start-first'),
    parallelism: fc.integer({ min: 0, max: 3 }),
    condition: fc.constantFrom('any', 'on-failure', 'none'),
    healthCheck: fc.boolean(),
    rollout: fc.constantFrom(undefined, 'updating', 'paused', 'rolling-back', 'completed'),
    nodeCount: fc.integer({ min: 1, max: NODE_IDS.length }),
    nodes: fc.tuple(...NODE_IDS.map(nodeArb)),
    tasks: fc.array(
      fc.record({
        slot: fc.integer({ min: 1, max: 7 }),
        state: fc.constantFrom(...STATES),
        desired: fc.constantFrom(...DESIRED),
        node: fc.integer({ min: 0, max: NODE_IDS.length - 1 }),
        outdated: fc.boolean(),
        created: fc.integer({ min: 0, max: 3000 }),
        health: fc.constantFrom(undefined, 'healthy', 'unhealthy'),
      }),
      { maxLength: 12 },
    ),
  })
  .map((g) => {
    const base = {
      replicas: g.replicas,
      restartPolicy: { condition: g.condition },
      update: { order: g.order, parallelism: g.parallelism, monitorSeconds: 5 },
      ...(g.healthCheck ? { healthCheck: { tcp: { port: 80 } } } : {}),
    } as const;
    const mode = g.global ? ({ mode: 'global' } as const) : {};
    const old = service({ spec: { ...base, ...mode, env: { V: '1' } }, metadata: { revision: 1 } });
    const svc = service({ spec: { ...base, ...mode, env: { V: '2' } }, metadata: { revision: 2 } });
    const nodes = g.nodes.slice(0, g.nodeCount);
    const tasks = g.tasks.map((t, i) => {
      const spec = t.outdated ? old : svc;
      const onNode = t.state !== 'pending' || g.global ? { nodeId: nodes[t.node % nodes.length]!.id } : {};
      return task({
        id: `t${String(i).padStart(3, '0')}`,
        serviceName: 'web',
        slot: g.global ? 0 : t.slot,
        spec: spec.spec,
        serviceVersion: 10,
        revision: spec.metadata.revision!,
        desiredState: t.desired,
        state: t.state,
        status: { timestamp: at(t.created), ...(t.health && t.state === 'running' ? { health: t.health } : {}) },
        createdAt: at(t.created),
        ...onNode,
      });
    });
    const update = g.rollout ? newUpdateStatus(svc, at(1000), { previousRevision: 1, state: g.rollout }) : undefined;
    return { svc, old, nodes, tasks, update };
  });

/** The tasks as they are once `plan` is written (what the orchestrator's transaction does). */
function apply(tasks: readonly Task[], plan: Plan): Task[] {
  const removed = new Set(plan.remove.map((t) => t.id));
  const next = new Map<string, Task>();
  for (const t of tasks) if (!removed.has(t.id)) next.set(t.id, t);
  for (const { task: t, desiredState } of plan.shutdown) if (next.has(t.id)) next.set(t.id, { ...next.get(t.id)!, desiredState });
  for (const o of plan.orphan) next.set(o.task.id, o.next);
  for (const t of plan.create) next.set(t.id, t);
  return [...next.values()];
}

const input = (w: World, tasks: readonly Task[], update: UpdateStatus | undefined, svc: Service | undefined): PlanInput => ({
  service: svc,
  tasks,
  nodes: w.nodes,
  now: NOW,
  ...(update ? { update } : {}),
});

/** Slot (replicated) or node (global) of a task. */
const placeOf = (w: World, t: Task): string => (w.svc.spec.mode === 'global' ? (t.nodeId ?? '') : String(t.slot));

/**
 * At most one live task of the current spec per slot (or node); stop-first, one live task per
 * slot whatever its spec (start-first keeps the old one beside its replacement until that is ready).
 */
function assertNoTwins(w: World, tasks: readonly Task[]): void {
  const current = new Map<string, number>();
  const live = new Map<string, number>();
  for (const t of tasks.filter(isLive)) {
    const place = placeOf(w, t);
    live.set(place, (live.get(place) ?? 0) + 1);
    if (!isOutdated(t, w.svc.spec, w.svc.metadata.restartedAt)) current.set(place, (current.get(place) ?? 0) + 1);
  }
  for (const [place, n] of current) assert.ok(n <= 1, `${n} live tasks of the current spec in ${place}`);
  const startFirst = w.svc.spec.update?.order === 'start-first' && w.svc.spec.mode !== 'global';
  for (const [place, n] of live) assert.ok(n <= (startFirst ? 2 : 1), `${n} live tasks in ${place}`);
}

const taskChanges = (p: Plan) => ({
  create: p.create.map((t) => `${t.slot}@${t.nodeId ?? ''}`),
  shutdown: p.shutdown.map((s) => `${s.task.id}:${s.desiredState}`),
  remove: p.remove.map((t) => t.id),
  orphan: p.orphan.map((o) => o.task.id),
});

describe('planner properties (fast-check)', () => {
  it('after a plan is applied, no slot or node holds two live tasks of the current spec', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const plan = planService(input(w, w.tasks, w.update, w.svc));
        if (plan.rollback) return;
        assertNoTwins(w, apply(w.tasks, plan));
      }),
      fcParams(300),
    );
  });

  it('a plan touches only the tasks it was given and creates tasks of its own service only', () => {
    fc.assert(
      fc.property(worldArb, fc.boolean(), (w, deleted) => {
        const plan = planService(input(w, w.tasks, w.update, deleted ? undefined : w.svc));
        const given = new Set(w.tasks.map((t) => t.id));
        for (const t of [...plan.remove, ...plan.shutdown.map((s) => s.task), ...plan.orphan.map((o) => o.task)]) {
          assert.ok(given.has(t.id), `${t.id} was not given`);
        }
        if (deleted) assert.equal(plan.create.length, 0);
        for (const t of plan.create) {
          assert.equal(t.serviceName, 'web');
          assert.equal(t.spec, w.svc.spec);
          assert.ok(!given.has(t.id));
        }
        for (const e of plan.events) assert.equal(e.service, 'web');
        // One transaction never touches a key twice.
        const touched = [...plan.remove.map((t) => t.id), ...plan.shutdown.map((s) => s.task.id), ...plan.orphan.map((o) => o.task.id)];
        assert.equal(new Set(touched).size, touched.length, `a task is touched twice: ${touched.join(',')}`);
      }),
      fcParams(300),
    );
  });

  it('planning again on the applied plan repeats nothing, and the passes reach a fixpoint', () => {
    fc.assert(
      fc.property(worldArb, fc.boolean(), (w, deleted) => {
        const svc = deleted ? undefined : w.svc;
        let tasks: Task[] = w.tasks;
        let update = w.update;
        let previous: Plan | undefined;
        // No agent reports between the passes, so a pass only finishes what the one before
        // started (a stop-first replacement is created once the task it replaces is gone, a task
        // told to stop that never reached a node is forgotten): the passes settle, and the plan
        // where they settle changes nothing when planned again.
        for (let pass = 1; pass <= 5; pass++) {
          const plan = planService(input(w, tasks, update, svc));
          if (plan.rollback) return;
          if (previous) {
            const told = new Map(previous.shutdown.map((s) => [s.task.id, s.desiredState]));
            for (const s of plan.shutdown) assert.notEqual(told.get(s.task.id), s.desiredState, `pass ${pass} repeats the shutdown of ${s.task.id}`);
          }
          if (pass >= 4) assert.deepEqual(taskChanges(plan), { create: [], shutdown: [], remove: [], orphan: [] }, `pass ${pass} still changes tasks`);
          tasks = apply(tasks, plan);
          if (svc) assertNoTwins(w, tasks);
          update = plan.update ?? update;
          previous = plan;
        }
      }),
      fcParams(300),
    );
  });

  it('mergePlans keeps every part in order, the later rollout state and the earlier wake-up', () => {
    const a: Plan = { create: [task({ id: 'a' })], shutdown: [], remove: [task({ id: 'r' })], orphan: [], events: [], wakeAt: 20 };
    const b: Plan = { create: [task({ id: 'b' })], shutdown: [], remove: [], orphan: [], events: [], wakeAt: 10, rollback: { toRevision: 1, reason: 'x' } };
    const m = mergePlans(a, b);
    assert.deepEqual(m.create.map((t) => t.id), ['a', 'b']);
    assert.deepEqual(m.remove.map((t) => t.id), ['r']);
    assert.equal(m.wakeAt, 10);
    assert.deepEqual(m.rollback, { toRevision: 1, reason: 'x' });
    assert.equal(a.create.length, 1, 'the parts are not changed');
  });
});
