import assert from 'node:assert/strict';
import type { Node, ServiceSpec, Task, TaskState } from '../../common/types.js';
import { buildNodeInfos } from '../../control-plane/scheduler/node-usage.js';
import { UsageTally } from '../../control-plane/scheduler/usage-tally.js';
import { node as buildNode, task as buildTask } from '../helpers/builders.js';

const MiB = 1024 ** 2;

function node(id: string): Node {
  return buildNode({ id, capacity: { cpu: 4000, memory: 1024 * MiB }, allocatable: { cpu: 4000, memory: 1024 * MiB }, at: '2024-01-01T00:00:00.000Z' });
}

function task(id: string, service: string, state: TaskState, nodeId?: string, spec: Partial<ServiceSpec> = {}, desired: Task['desiredState'] = 'running'): Task {
  const at = '2024-01-01T00:00:00.000Z';
  return buildTask({
    id,
    name: `${service}.${id}`,
    serviceName: service,
    spec: { image: 'nginx', resources: { cpu: '100m', memory: '64Mi' }, ...spec },
    desiredState: desired,
    state,
    status: { timestamp: at },
    createdAt: at,
    ...(nodeId ? { nodeId } : {}),
  });
}

/** The usage a rebuild from every task gives: what the tally must always equal. */
function rebuilt(nodes: Node[], tasks: Map<string, Task>): unknown {
  return [...buildNodeInfos(nodes, tasks.values()).values()].map((i) => ({ id: i.node.id, ...i.usage }));
}

function tallied(tally: UsageTally, nodes: Node[]): unknown {
  return [...tally.infos(nodes).values()].map((i) => ({ id: i.node.id, ...i.usage }));
}

describe('scheduler usage tally (node usage kept per change)', () => {
  const nodes = [node('n1'), node('n2')];

  it('equals a full rebuild through placement, moves, desired shutdown, end and deletion', () => {
    const tally = new UsageTally();
    const store = new Map<string, Task>();
    const change = (key: string, t: Task | undefined): void => {
      if (t) store.set(key, t);
      else store.delete(key);
      tally.set(key, t);
      assert.deepEqual(tallied(tally, nodes), rebuilt(nodes, store));
    };
    change('a', task('a', 'web', 'pending'));
    change('a', task('a', 'web', 'assigned', 'n1', { ports: [{ containerPort: 80, hostPort: 8080 }] }));
    change('b', task('b', 'web', 'running', 'n1', { ports: [{ containerPort: 80, hostPort: 8080 }] }));
    change('c', task('c', 'db', 'running', 'n2'));
    change('a', task('a', 'web', 'running', 'n1', { ports: [{ containerPort: 80, hostPort: 8080 }] }, 'shutdown'));
    // Two holders of a port: it stays taken until the last one ends.
    change('a', task('a', 'web', 'complete', 'n1', { ports: [{ containerPort: 80, hostPort: 8080 }] }, 'shutdown'));
    assert.ok(tally.usageOf('n1').ports.has('8080/tcp'));
    change('b', undefined);
    assert.equal(tally.usageOf('n1').ports.size, 0);
    change('c', task('c', 'db', 'failed', 'n2'));
    assert.deepEqual(tally.usageOf('n2'), { cpu: 0, memory: 0, ports: new Set(), liveByService: new Map(), live: 0 });
  });

  it('hands out copies: placements of a pass do not change the tally', () => {
    const tally = new UsageTally();
    tally.set('a', task('a', 'web', 'running', 'n1'));
    const infos = tally.infos(nodes);
    const u = infos.get('n1')!.usage;
    u.cpu += 500;
    u.liveByService.set('web', 5);
    assert.equal(tally.usageOf('n1').cpu, 100);
    assert.equal(tally.usageOf('n1').liveByService.get('web'), 1);
  });
});
