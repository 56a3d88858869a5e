// Properties of the scheduler's placement (placement.ts, pure) on generated nodes, tasks already
// placed and pending tasks: a placement never overbooks a node (memory, CPU, fixed host ports)
// nor uses a node that is not ready and active, and a service's new tasks spread across equal
// eligible nodes within one task of even.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { requestsOf } from '../../common/quantity.js';
import type { Node, Task, TaskState } from '../../common/types.js';
import { fixedHostPorts, holdsNode } from '../../control-plane/scheduler/node-usage.js';
import { placeTasks } from '../../control-plane/scheduler/placement.js';
import { node, task } from '../helpers/builders.js';
import { fcParams } from '../helpers/property.js';

const MiB = 1 << 20;
const SERVICES = ['web', 'api', 'db'];
const HELD: TaskState[] = ['assigned', 'running', 'complete', 'failed'];

const nodeArb = (id: string) =>
  fc
    .record({
      cpu: fc.integer({ min: 0, max: 4000 }),
      memoryMiB: fc.integer({ min: 0, max: 4096 }),
      state: fc.constantFrom('ready', 'ready', 'ready', 'down'),
      availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain'),
    })
    .map((n) =>
      node({
        id,
        at: '2026-01-01T00:00:00.000Z',
        state: n.state as Node['status']['state'],
        availability: n.availability,
        capacity: { cpu: n.cpu, memory: n.memoryMiB * MiB },
        allocatable: { cpu: n.cpu, memory: n.memoryMiB * MiB },
      }),
    );

/** A spec's resources and fixed host ports (distinct within the task). */
const specArb = fc.record({
  cpu: fc.constantFrom(0, 100, 250, 500, 1000),
  memoryMiB: fc.constantFrom(0, 64, 256, 1024),
  hostPorts: fc.uniqueArray(fc.constantFrom(0, 8080, 8081, 9000), { maxLength: 2 }),
});

type SpecGen = { cpu: number; memoryMiB: number; hostPorts: number[] };

function specOf(g: SpecGen, maxPerNode?: number): Task['spec'] {
  return {
    image: 'berth/web',
    resources: { ...(g.cpu ? { cpu: `${g.cpu}m` } : {}), ...(g.memoryMiB ? { memory: `${g.memoryMiB}Mi` } : {}) },
    ...(g.hostPorts.length ? { ports: g.hostPorts.map((h, i) => ({ containerPort: 80 + i, hostPort: h })) } : {}),
    ...(maxPerNode ? { placement: { maxPerNode } } : {}),
  };
}

const clusterArb = fc
  .record({
    nodeCount: fc.integer({ min: 1, max: 6 }),
    nodes: fc.tuple(...[1, 2, 3, 4, 5, 6].map((i) => nodeArb(`n${i}`))),
    placed: fc.array(fc.record({ service: fc.constantFrom(...SERVICES), spec: specArb, node: fc.nat(), state: fc.constantFrom(...HELD) }), { maxLength: 10 }),
    pending: fc.array(
      fc.record({ service: fc.constantFrom(...SERVICES), spec: specArb, node: fc.nat() }),
      { maxLength: 15 },
    ),
    /** maxPerNode of web and api (0: none); db is a global service, its tasks pinned to a node. */
    maxPerNode: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  })
  .map((g) => {
    const nodes = g.nodes.slice(0, g.nodeCount);
    const placed = g.placed.map((p, i) =>
      task({ id: `p${i}`, serviceName: p.service, slot: i + 1, spec: specOf(p.spec), state: p.state, nodeId: nodes[p.node % nodes.length]!.id }),
    );
    const pending = g.pending.map((p, i) =>
      task({
        id: `q${String(i).padStart(2, '0')}`,
        serviceName: p.service,
        slot: i + 1,
        spec: specOf(p.spec, p.service === 'db' ? undefined : g.maxPerNode[SERVICES.indexOf(p.service)]),
        ...(p.service === 'db' ? { nodeId: nodes[p.node % nodes.length]!.id } : {}),
      }),
    );
    return { nodes, placed, pending };
  });

describe('placement properties (fast-check)', () => {
  it('never overbooks a node (memory, CPU, host ports) nor uses a node not ready and active', () => {
    fc.assert(
      fc.property(clusterArb, ({ nodes, placed, pending }) => {
        const result = placeTasks(pending, nodes, placed);
        const byId = new Map(pending.map((t) => [t.id, t]));
        assert.equal(result.placements.length + result.unplaceable.length, pending.length, 'every task is placed or explained');
        for (const n of nodes) {
          const before = placed.filter((t) => holdsNode(t) && t.nodeId === n.id);
          const added = result.placements.filter((p) => p.nodeId === n.id).map((p) => byId.get(p.taskId)!);
          if (added.length === 0) continue;
          assert.equal(n.status.state, 'ready', `${n.id} is not ready`);
          assert.equal(n.availability, 'active', `${n.id} is not active`);
          const sum = (ts: Task[], key: 'cpu' | 'memory') => ts.reduce((s, t) => s + requestsOf(t.spec.resources)[key], 0);
          // Tasks placed before may overbook (a node shrunk): what is added never makes it worse.
          for (const key of ['cpu', 'memory'] as const) {
            const addedSum = sum(added, key);
            if (addedSum > 0) assert.ok(sum(before, key) + addedSum <= n.allocatable[key], `${n.id} overbooked on ${key}`);
          }
          const ports = before.flatMap((t) => fixedHostPorts(t.spec.ports));
          for (const t of added) {
            for (const p of fixedHostPorts(t.spec.ports)) {
              assert.ok(!ports.includes(p), `${n.id}: host port ${p} bound twice`);
              ports.push(p);
            }
          }
          for (const t of added) {
            const max = t.spec.placement?.maxPerNode;
            if (!max) continue;
            const live = [...before.filter((b) => b.desiredState === 'running'), ...added].filter((x) => x.serviceName === t.serviceName).length;
            assert.ok(live <= max, `${n.id}: ${live} tasks of ${t.serviceName} over maxPerNode ${max}`);
          }
        }
        for (const p of result.placements) {
          const t = byId.get(p.taskId)!;
          if (t.nodeId) assert.equal(p.nodeId, t.nodeId, 'a pinned task goes to its node only');
        }
      }),
      fcParams(300),
    );
  });

  it('spreads a service within one task of even across equal eligible nodes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.constantFrom<'down' | 'pause' | 'drain'>('down', 'pause', 'drain'), { maxLength: 3 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(fc.record({ node: fc.nat(), service: fc.constantFrom('api', 'db') }), { maxLength: 12 }),
        (eligible, ineligible, count, others) => {
          const big = { cpu: 64_000, memory: 64 * 1024 * MiB };
          const nodes: Node[] = [
            ...Array.from({ length: eligible }, (_, i) => node({ id: `e${i}`, at: '2026-01-01T00:00:00.000Z', capacity: big, allocatable: big })),
            ...ineligible.map((why, i) =>
              node({ id: `x${i}`, at: '2026-01-01T00:00:00.000Z', capacity: big, allocatable: big, ...(why === 'down' ? { state: 'down' as const } : { availability: why }) }),
            ),
          ];
          // Other services' tasks change how allocated a node is, never this service's spread.
          const placed = others.map((o, i) =>
            task({ id: `o${i}`, serviceName: o.service, spec: { image: 'x', resources: { cpu: '100m', memory: '64Mi' } }, state: 'running', nodeId: nodes[o.node % nodes.length]!.id }),
          );
          const pending = Array.from({ length: count }, (_, i) =>
            task({ id: `w${String(i).padStart(2, '0')}`, slot: i + 1, spec: { image: 'x', resources: { cpu: '100m', memory: '64Mi' } } }),
          );
          const result = placeTasks(pending, nodes, placed);
          assert.equal(result.placements.length, count);
          const per = new Map<string, number>(nodes.slice(0, eligible).map((n) => [n.id, 0]));
          for (const p of result.placements) {
            assert.ok(per.has(p.nodeId), `placed on ineligible ${p.nodeId}`);
            per.set(p.nodeId, per.get(p.nodeId)! + 1);
          }
          const counts = [...per.values()];
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `uneven: ${counts.join(',')}`);
        },
      ),
      fcParams(200),
    );
  });
});
