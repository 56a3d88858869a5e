import assert from 'node:assert/strict';
import { requestsOf } from '../../common/quantity.js';
import type { Node, ServiceSpec, Task, TaskState } from '../../common/types.js';
import { isSchedulable, placeTasks, type PlacementResult } from '../../control-plane/scheduler/placement.js';
import { node as buildNode, task as buildTask } from '../helpers/builders.js';

// ---------- plain-data fixtures ----------

const GiB = 1024 ** 3;

function node(name: string, over: Partial<Node> = {}): Node {
  return buildNode({ id: `id-${name}`, name, capacity: { cpu: 4000, memory: 8 * GiB }, allocatable: { cpu: 4000, memory: 8 * GiB }, at: '2024-01-01T00:00:00.000Z', ...over });
}

let seq = 0;

function task(service: string, spec: Partial<ServiceSpec> = {}, over: Partial<Task> & { state?: TaskState } = {}): Task {
  seq++;
  const { state = 'pending', ...rest } = over;
  const at = '2024-01-01T00:00:00.000Z';
  return buildTask({ id: `${service}-${String(seq).padStart(6, '0')}`, name: `${service}.${seq}`, serviceName: service, slot: seq, spec: { image: 'nginx', ...spec }, state, status: { timestamp: at }, createdAt: at, ...rest });
}

function pending(n: number, service: string, spec: Partial<ServiceSpec> = {}): Task[] {
  return Array.from({ length: n }, () => task(service, spec));
}

/** A task already running on a node. */
function onNode(service: string, nodeId: string, spec: Partial<ServiceSpec> = {}, over: Partial<Task> & { state?: TaskState } = {}): Task {
  return task(service, spec, { nodeId, state: 'running', ...over });
}

/** Node id -> number of placements. */
function perNode(r: PlacementResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of r.placements) out[p.nodeId] = (out[p.nodeId] ?? 0) + 1;
  return out;
}

function messages(r: PlacementResult): string[] {
  return r.unplaceable.map((u) => u.message);
}

const three = (): Node[] => [node('a'), node('b'), node('c')];

// ---------- tests ----------

describe('scheduler placement (pure)', () => {
  describe('spread and ranking', () => {
    it('spreads 6 replicas over 3 equal nodes, 2 per node', () => {
      const r = placeTasks(pending(6, 'web'), three(), []);
      assert.deepEqual(perNode(r), { 'id-a': 2, 'id-b': 2, 'id-c': 2 });
      assert.equal(r.unplaceable.length, 0);
    });

    it('spreads around replicas of the service already running', () => {
      const live = [onNode('web', 'id-a'), onNode('web', 'id-a'), onNode('web', 'id-b')];
      const r = placeTasks(pending(3, 'web'), three(), live);
      // c has none, b has one, a has two: after placing, each node holds 2.
      assert.deepEqual(perNode(r), { 'id-c': 2, 'id-b': 1 });
    });

    it('prefers the least allocated node when the service has no task anywhere', () => {
      const live = [
        onNode('db', 'id-a', { resources: { memory: '4Gi' } }),
        onNode('db', 'id-b', { resources: { cpu: '1' } }),
      ];
      const r = placeTasks(pending(1, 'web', { resources: { memory: '1Gi' } }), three(), live);
      assert.deepEqual(r.placements.map((p) => p.nodeId), ['id-c']);
    });

    it('does not count a service\'s tasks that are being shut down or have ended for spread', () => {
      const live = [
        onNode('web', 'id-a', {}, { desiredState: 'shutdown' }),
        onNode('web', 'id-b', {}, { state: 'failed' }),
        onNode('web', 'id-c'),
      ];
      const r = placeTasks(pending(2, 'web'), three(), live);
      assert.deepEqual(perNode(r), { 'id-a': 1, 'id-b': 1 });
    });

    it('gives the same answer for the same input', () => {
      const nodes = [node('z'), node('m'), node('a')];
      const ts = pending(5, 'web', { resources: { cpu: '100m' } });
      assert.deepEqual(placeTasks(ts, nodes, []), placeTasks([...ts].reverse(), [...nodes].reverse(), []));
    });
  });

  describe('resources', () => {
    it('never books more memory than a node has and explains the rest', () => {
      const ts = pending(7, 'web', { resources: { memory: '3Gi' } });
      const r = placeTasks(ts, three(), []);
      assert.deepEqual(perNode(r), { 'id-a': 2, 'id-b': 2, 'id-c': 2 });
      assert.deepEqual(messages(r), ['0/3 nodes available: 3 insufficient memory']);
    });

    it('counts memory held by other services\' running tasks, and by tasks desired shutdown but still running', () => {
      const live = [
        onNode('db', 'id-a', { resources: { memory: '6Gi' } }),
        onNode('db', 'id-b', { resources: { memory: '6Gi' } }, { desiredState: 'shutdown' }),
        onNode('db', 'id-c', { resources: { memory: '6Gi' } }, { state: 'complete' }),
      ];
      const r = placeTasks(pending(2, 'web', { resources: { memory: '5Gi' } }), three(), live);
      assert.deepEqual(perNode(r), { 'id-c': 1 });
      assert.deepEqual(messages(r), ['0/3 nodes available: 3 insufficient memory']);
    });

    it('counts cpu separately from memory', () => {
      const r = placeTasks(pending(3, 'web', { resources: { cpu: '1.5' } }), [node('a'), node('b', { allocatable: { cpu: 1000, memory: 8 * GiB } })], []);
      assert.deepEqual(perNode(r), { 'id-a': 2 });
      assert.deepEqual(messages(r), ['0/2 nodes available: 2 insufficient cpu']);
    });

    it('never places a task whose memory request exceeds every node', () => {
      const r = placeTasks(pending(1, 'big', { resources: { memory: '64Gi' } }), three(), []);
      assert.equal(r.placements.length, 0);
      assert.deepEqual(messages(r), ['0/3 nodes available: 3 insufficient memory']);
    });

    it('ignores tasks assigned to nodes that do not exist', () => {
      const live = [onNode('db', 'id-gone', { resources: { memory: '8Gi' } })];
      const r = placeTasks(pending(1, 'web', { resources: { memory: '8Gi' } }), [node('a')], live);
      assert.deepEqual(perNode(r), { 'id-a': 1 });
    });
  });

  describe('host ports', () => {
    const port = (hostPort: number, protocol?: 'tcp' | 'udp') => ({ ports: [{ containerPort: 80, hostPort, ...(protocol ? { protocol } : {}) }] });

    it('binds a fixed host port once per node', () => {
      const r = placeTasks(pending(3, 'web', port(8080)), [node('a'), node('b')], []);
      assert.deepEqual(perNode(r), { 'id-a': 1, 'id-b': 1 });
      assert.deepEqual(messages(r), ['0/2 nodes available: 2 host port 8080/tcp in use']);
    });

    it('sees ports bound by running tasks of other services, per protocol', () => {
      const live = [onNode('dns', 'id-a', port(8080, 'udp')), onNode('other', 'id-b', port(8080))];
      const r = placeTasks(pending(2, 'web', port(8080)), [node('a'), node('b')], live);
      assert.deepEqual(perNode(r), { 'id-a': 1 });
      assert.equal(r.unplaceable.length, 1);
    });

    it('never conflicts on host port 0 (runtime-chosen)', () => {
      const r = placeTasks(pending(4, 'web', port(0)), [node('a')], [onNode('x', 'id-a', port(0))]);
      assert.deepEqual(perNode(r), { 'id-a': 4 });
    });

    it('frees a port when the task holding it has ended', () => {
      const live = [onNode('web', 'id-a', port(8080), { state: 'shutdown', desiredState: 'shutdown' })];
      const r = placeTasks(pending(1, 'web', port(8080)), [node('a')], live);
      assert.deepEqual(perNode(r), { 'id-a': 1 });
    });
  });

  describe('placement constraints', () => {
    const zoned = (): Node[] => [
      node('a1', { labels: { zone: 'a' } }),
      node('b1', { labels: { zone: 'b' } }),
      node('b2', { labels: { zone: 'b' } }),
    ];

    it('== on a label places only on matching nodes', () => {
      const r = placeTasks(pending(4, 'web', { placement: { constraints: ['node.labels.zone == b'] } }), zoned(), []);
      assert.deepEqual(perNode(r), { 'id-b1': 2, 'id-b2': 2 });
    });

    it('!= on a label excludes nodes, including those without the label', () => {
      const nodes = [...zoned(), node('nolabel')];
      const r = placeTasks(pending(3, 'web', { placement: { constraints: ['node.labels.zone != b'] } }), nodes, []);
      assert.ok(r.placements.every((p) => p.nodeId === 'id-a1' || p.nodeId === 'id-nolabel'));
      assert.equal(r.placements.length, 3);
    });

    it('== and != on node name and id', () => {
      const byName = placeTasks(pending(2, 'web', { placement: { constraints: ['node.name == b2'] } }), zoned(), []);
      assert.deepEqual(perNode(byName), { 'id-b2': 2 });
      const notName = placeTasks(pending(2, 'web', { placement: { constraints: ['node.name != a1'] } }), zoned(), []);
      assert.deepEqual(perNode(notName), { 'id-b1': 1, 'id-b2': 1 });
      const byId = placeTasks(pending(1, 'web', { placement: { constraints: ['node.id == id-a1'] } }), zoned(), []);
      assert.deepEqual(perNode(byId), { 'id-a1': 1 });
      const notId = placeTasks(pending(2, 'web', { placement: { constraints: ['node.id != id-b1', 'node.id != id-b2'] } }), zoned(), []);
      assert.deepEqual(perNode(notId), { 'id-a1': 2 });
    });

    it('explains unmet constraints with their text, most common reason first', () => {
      const nodes = [
        node('a', { labels: { zone: 'b' } }),
        node('b', { labels: { zone: 'a' }, allocatable: { cpu: 4000, memory: 2 * GiB } }),
        node('c', { labels: { zone: 'a' }, allocatable: { cpu: 4000, memory: 2 * GiB } }),
      ];
      const r = placeTasks(pending(1, 'web', { resources: { memory: '4Gi' }, placement: { constraints: ['node.labels.zone == a'] } }), nodes, []);
      assert.deepEqual(messages(r), ['0/3 nodes available: 2 insufficient memory, 1 constraint node.labels.zone == a not met']);
    });

    it('names each unmet constraint with its own count', () => {
      const nodes = [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'a' } }), node('c', { labels: { zone: 'a', disk: 'hdd' } })];
      const r = placeTasks(
        pending(1, 'web', { placement: { constraints: ['node.labels.zone == a', 'node.labels.disk == ssd'] } }),
        nodes,
        [],
      );
      assert.deepEqual(messages(r), [
        '0/3 nodes available: 2 constraint node.labels.disk == ssd not met, 1 constraint node.labels.zone == a not met',
      ]);
    });
  });

  describe('maxPerNode', () => {
    it('caps live replicas of the service per node, counting those already running', () => {
      const live = [onNode('web', 'id-a')];
      const r = placeTasks(pending(4, 'web', { placement: { maxPerNode: 1 } }), three(), live);
      assert.deepEqual(perNode(r), { 'id-b': 1, 'id-c': 1 });
      assert.deepEqual(messages(r), Array(2).fill('0/3 nodes available: 3 max 1 per node reached'));
    });

    it('does not count other services', () => {
      const r = placeTasks(pending(1, 'web', { placement: { maxPerNode: 1 } }), [node('a')], [onNode('db', 'id-a')]);
      assert.deepEqual(perNode(r), { 'id-a': 1 });
    });
  });

  describe('node state and availability', () => {
    it('skips nodes that are not ready, paused or drained, and says so', () => {
      const nodes = [
        node('down', { status: { state: 'down', timestamp: '' } }),
        node('paused', { availability: 'pause' }),
        node('drained', { availability: 'drain' }),
        node('ok'),
      ];
      const r = placeTasks(pending(2, 'web'), nodes, []);
      assert.deepEqual(perNode(r), { 'id-ok': 2 });
      const none = placeTasks(pending(1, 'web'), nodes.slice(0, 3), []);
      assert.deepEqual(messages(none), ['0/3 nodes available: 2 not active (paused or drained), 1 not ready']);
    });

    it('says "no nodes available" when there is no node at all', () => {
      const r = placeTasks(pending(2, 'web'), [], []);
      assert.deepEqual(messages(r), Array(2).fill('0/0 nodes available: no nodes available'));
    });
  });

  describe('global tasks pinned to a node', () => {
    it('places a pinned task only on its node, even when another ranks better', () => {
      const live = [onNode('db', 'id-a', { resources: { memory: '4Gi' } })];
      const t = task('agent', { mode: 'global', resources: { memory: '1Gi' } }, { nodeId: 'id-a', slot: 0 });
      const r = placeTasks([t], three(), live);
      assert.deepEqual(r.placements, [{ taskId: t.id, nodeId: 'id-a' }]);
    });

    it('leaves a pinned task pending with the reason when its node cannot take it', () => {
      const live = [onNode('db', 'id-a', { resources: { memory: '7Gi' } })];
      const t = task('agent', { mode: 'global', resources: { memory: '2Gi' } }, { nodeId: 'id-a', slot: 0 });
      const gone = task('agent', { mode: 'global' }, { nodeId: 'id-gone', slot: 0 });
      const drained = task('agent', { mode: 'global' }, { nodeId: 'id-b', slot: 0 });
      const nodes = [node('a'), node('b', { availability: 'drain' })];
      const r = placeTasks([t, gone, drained], nodes, live);
      assert.equal(r.placements.length, 0);
      assert.deepEqual(
        Object.fromEntries(r.unplaceable.map((u) => [u.taskId, u.message])),
        {
          [t.id]: '0/1 nodes available: 1 insufficient memory',
          [gone.id]: '0/1 nodes available: node id-gone not found',
          [drained.id]: '0/1 nodes available: 1 not active (paused or drained)',
        },
      );
    });

    it('reserves the pinned task\'s resources before placing replicated tasks', () => {
      const pinned = task('agent', { mode: 'global', resources: { memory: '6Gi' } }, { nodeId: 'id-a', slot: 0 });
      const web = pending(1, 'web', { resources: { memory: '4Gi' } });
      const r = placeTasks([...web, pinned], [node('a')], []);
      assert.deepEqual(r.placements, [{ taskId: pinned.id, nodeId: 'id-a' }]);
      assert.deepEqual(messages(r), ['0/1 nodes available: 1 insufficient memory']);
    });
  });

  describe('within one call', () => {
    it('accounts every placement against later tasks of other services', () => {
      const ts = [...pending(2, 'a', { resources: { memory: '5Gi' } }), ...pending(2, 'b', { resources: { memory: '5Gi' } })];
      const r = placeTasks(ts, [node('x'), node('y')], []);
      assert.equal(r.placements.length, 2);
      assert.equal(new Set(r.placements.map((p) => p.nodeId)).size, 2);
      assert.equal(r.unplaceable.length, 2);
    });

    it('isSchedulable selects pending tasks still desired running', () => {
      assert.ok(isSchedulable(task('w')));
      assert.ok(!isSchedulable(task('w', {}, { desiredState: 'shutdown' })));
      assert.ok(!isSchedulable(task('w', {}, { state: 'assigned' })));
    });
  });

  describe('scale', () => {
    it('places 10,000 tasks of 20 services on 1,000 nodes without overbooking', function () {
      this.timeout(60_000);
      const nodes = Array.from({ length: 1000 }, (_, i) =>
        node(`n${String(i).padStart(4, '0')}`, {
          labels: { zone: `z${i % 4}` },
          allocatable: { cpu: 4000, memory: (i % 2 === 0 ? 8 : 4) * GiB },
        }),
      );
      const ts: Task[] = [];
      for (let s = 0; s < 20; s++) {
        ts.push(
          ...pending(500, `svc${s}`, {
            resources: { cpu: '100m', memory: `${64 * (1 + (s % 4))}Mi` },
            ...(s % 5 === 0 ? { placement: { constraints: [`node.labels.zone != z${s % 4}`] } } : {}),
          }),
        );
      }
      const r = placeTasks(ts, nodes, []);
      assert.equal(r.placements.length, 10_000);
      const byId = new Map(ts.map((t) => [t.id, t]));
      const used = new Map<string, { cpu: number; memory: number }>();
      for (const p of r.placements) {
        const req = requestsOf(byId.get(p.taskId)!.spec.resources);
        const u = used.get(p.nodeId) ?? { cpu: 0, memory: 0 };
        u.cpu += req.cpu;
        u.memory += req.memory;
        used.set(p.nodeId, u);
      }
      for (const n of nodes) {
        const u = used.get(n.id) ?? { cpu: 0, memory: 0 };
        assert.ok(u.cpu <= n.allocatable.cpu && u.memory <= n.allocatable.memory, `${n.name} overbooked`);
      }
      // 500 replicas over 1,000 nodes: spread puts at most one replica of a service on a node.
      const perServiceNode = new Map<string, number>();
      for (const p of r.placements) {
        const k = `${byId.get(p.taskId)!.serviceName}/${p.nodeId}`;
        perServiceNode.set(k, (perServiceNode.get(k) ?? 0) + 1);
      }
      assert.equal(Math.max(...perServiceNode.values()), 1);
    });

    it('finishes 2,000 tasks that each need their own judgement on 1,000 nodes', function () {
      this.timeout(60_000);
      const nodes = Array.from({ length: 1000 }, (_, i) => node(`n${i}`, { labels: { rack: `r${i % 50}` } }));
      const ts = Array.from({ length: 2000 }, (_, i) => task(`svc${i}`, { placement: { constraints: [`node.labels.rack == r${i % 50}`] } }));
      const r = placeTasks(ts, nodes, []);
      assert.equal(r.placements.length, 2000);
      const rackOf = new Map(nodes.map((n) => [n.id, n.labels.rack]));
      const byId = new Map(ts.map((t) => [t.id, t]));
      for (const p of r.placements) {
        assert.equal(`node.labels.rack == ${rackOf.get(p.nodeId)}`, byId.get(p.taskId)!.spec.placement!.constraints![0]);
      }
    });
  });
});
