import assert from 'node:assert/strict';
import { engineCpuMillicores, memoryOf, sampleOf, type EngineStats } from '../../agent/metrics/container-stats.js';
import { isLoopback, parseListen } from '../../agent/metrics/endpoint.js';
import { metricsListenOf, parseAgentFlags } from '../../agent/cli.js';
import { UsageBook } from '../../control-plane/dispatcher/usage-book.js';
import { usageFromProto, usageToProto } from '../../proto/convert.js';
import { nodesTable, tasksTable } from '../../cli/commands/top.js';
import type { Node, Task } from '../../common/types.js';

const MiB = 1024 * 1024;

function refusal(text: string): string {
  const r = parseListen(text);
  assert.equal(typeof r, 'string', `${text} refused`);
  return r as string;
}
const ref = { containerId: 'c1', taskId: 't1', taskName: 'burn.1.abc', service: 'burn' };

describe('usage: container stats', () => {
  it('memory is usage less the inactive page cache (cgroup v2 and v1 names)', () => {
    assert.equal(memoryOf({ memory_stats: { usage: 100 * MiB, stats: { inactive_file: 30 * MiB } } }), 70 * MiB);
    assert.equal(memoryOf({ memory_stats: { usage: 100 * MiB, stats: { total_inactive_file: 10 * MiB } } }), 90 * MiB);
    assert.equal(memoryOf({ memory_stats: {} }), 0);
  });

  it('cpu: the Engine\'s own window on the first sample, then the average since the previous one', () => {
    const first: EngineStats = {
      read: '2026-12-06T09:00:00.000Z',
      cpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 18_000_000_000 },
    };
    // 1 s of CPU over 2 s of both CPUs' time (1 s of wall time): one core.
    assert.equal(engineCpuMillicores(first), 1000);
    const s1 = sampleOf(ref, first, undefined);
    assert.equal(s1.cpuMillicores, 1000);
    assert.equal(s1.cpuSeconds, 2);
    // 5 s later, 2.5 s more CPU: half a core on average.
    const s2 = sampleOf(ref, { ...first, read: '2026-12-06T09:00:05.000Z', cpu_stats: { cpu_usage: { total_usage: 4_500_000_000 }, system_cpu_usage: 40_000_000_000, online_cpus: 2 } }, s1);
    assert.equal(s2.cpuMillicores, 500);
    assert.equal(s2.cpuSeconds, 4.5);
    // No previous reading from the Engine (it answered at once): 0, not a made-up figure.
    assert.equal(engineCpuMillicores({ cpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 10 }, precpu_stats: {} }), 0);
  });
});

describe('usage: --metrics-listen', () => {
  it('takes loopback addresses only, saying why another is refused', () => {
    assert.deepEqual(parseListen('127.0.0.1:9101'), { host: '127.0.0.1', port: 9101 });
    assert.deepEqual(parseListen('[::1]:9101'), { host: '::1', port: 9101 });
    assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
    assert.match(refusal('0.0.0.0:9101'), /0\.0\.0\.0 is not a loopback address/);
    assert.match(refusal('10.0.0.5:9101'), /not a loopback address/);
    assert.match(refusal('9101'), /expected ADDR:PORT/);
    assert.match(refusal('127.0.0.1:70000'), /above 65535/);
    assert.equal(isLoopback('127.1.2.3'), true);
    assert.equal(isLoopback('::'), false);
    assert.throws(() => metricsListenOf('0.0.0.0:1', '--agent-metrics-listen'), /--agent-metrics-listen "0\.0\.0\.0:1": 0\.0\.0\.0 is not a loopback address/);
  });

  it('berth agent refuses a non-loopback address before starting', () => {
    const base = ['--server', '127.0.0.1:7071', '--token', 'BERTH-1-x-y', '--name', 'n1', '--data-dir', '/tmp/berth-nonexistent-usage-test'];
    assert.throws(() => parseAgentFlags([...base, '--metrics-listen', '0.0.0.0:9101']), /--metrics-listen "0\.0\.0\.0:9101": .*loopback/);
    assert.deepEqual(parseAgentFlags([...base, '--metrics-listen', '127.0.0.1:9101'])?.metricsListen, { host: '127.0.0.1', port: 9101 });
    assert.equal(parseAgentFlags(base)?.metricsListen, undefined);
  });
});

describe('usage: the wire and the book', () => {
  const node = { id: 'n1', name: 'node-1', allocatable: { cpu: 2000, memory: 2048 * MiB } } as Node;
  const task = (id: string, service: string, resources?: { cpu?: string; memory?: string }, state = 'running'): Task =>
    ({ id, name: `${service}.1.${id}`, serviceName: service, desiredState: 'running', nodeId: 'n1', spec: { image: 'x', ...(resources ? { resources } : {}) }, status: { state } }) as unknown as Task;
  const tasks = [task('t1', 'burn', { cpu: '500m' }), task('t2', 'hog', { memory: '128Mi' }), task('t3', 'old', { cpu: '1' }, 'failed')];

  it('a report crosses the wire unchanged; negative figures become 0', () => {
    const report = { allocatable: { cpu: 2000, memory: 1024 }, containers: [{ taskId: 't1', cpu: 998, memory: 300 }], sampledAtMs: 1_000 };
    assert.deepEqual(usageFromProto({ allocatable: null, ...usageToProto(report) } as never), report);
    const bad = usageFromProto({ allocatable: null, containers: [{ taskId: 't1', cpuMillicores: -5, memoryBytes: -1 }], sampledAtMs: 7 });
    assert.deepEqual(bad.containers, [{ taskId: 't1', cpu: 0, memory: 0 }]);
  });

  it('joins each figure with its node and task, requests of live tasks only; forgets a node whose session ended', () => {
    const book = new UsageBook({ node: (id) => (id === 'n1' ? node : undefined), task: (id) => tasks.find((t) => t.id === id), tasksOf: () => tasks }, 'cp-1');
    book.record('n1', { allocatable: { cpu: 2000, memory: 2048 * MiB }, containers: [{ taskId: 't1', cpu: 998, memory: MiB }, { taskId: 't2', cpu: 2, memory: 60 * MiB }], sampledAtMs: Date.parse('2026-12-06T09:00:00Z') });
    book.record('gone', { allocatable: { cpu: 1, memory: 1 }, containers: [], sampledAtMs: 0 });
    const [n] = book.nodes();
    assert.deepEqual(n, { nodeId: 'n1', node: 'node-1', cpu: 1000, memory: 61 * MiB, allocatable: { cpu: 2000, memory: 2048 * MiB }, requested: { cpu: 500, memory: 128 * MiB }, tasks: 2, sampledAt: '2026-12-06T09:00:00.000Z', server: 'cp-1' });
    assert.equal(book.nodes().length, 1, 'a node the registry does not know is not shown');
    assert.deepEqual(book.tasks({ service: 'hog' }).map((t) => [t.task, t.cpu, t.memory, t.requested]), [['hog.1.t2', 2, 60 * MiB, { cpu: 0, memory: 128 * MiB }]]);
    assert.equal(book.tasks({ node: 'node-1' }).length, 2);
    assert.equal(book.tasks({ node: 'other' }).length, 0);
    book.forget('n1');
    assert.deepEqual(book.nodes(), []);
  });

  it('berth top prints cores, shares and requests as kubectl top does', () => {
    const nodes = nodesTable([{ nodeId: 'n1', node: 'node-1', cpu: 1012, memory: 60 * MiB, allocatable: { cpu: 2000, memory: 2048 * MiB }, requested: { cpu: 1500, memory: 128 * MiB }, tasks: 2, sampledAt: '', server: 'cp-1' }]);
    assert.match(nodes, /^NAME\s+CPU\(cores\)\s+CPU%\s+MEMORY\(bytes\)\s+MEMORY%/);
    assert.match(nodes, /^node-1\s+1012m\s+51%\s+60Mi\s+3%\s+1500m\/2\s+128Mi\/2Gi\s+2$/m);
    const rows = tasksTable([
      { taskId: 't1', task: 'burn.1.a', service: 'burn', nodeId: 'n1', node: 'node-1', cpu: 750, memory: 300 * 1024, requested: { cpu: 1500, memory: 0 }, sampledAt: '', server: 'cp-1' },
      { taskId: 't2', task: 'hog.1.b', service: 'hog', nodeId: 'n1', node: 'node-1', cpu: 0, memory: 64 * MiB, requested: { cpu: 0, memory: 128 * MiB }, sampledAt: '', server: 'cp-1' },
    ]);
    assert.match(rows, /^burn\.1\.a\s+burn\s+node-1\s+750m\s+1500m \(50%\)\s+300Ki\s+<none>$/m);
    assert.match(rows, /^hog\.1\.b\s+hog\s+node-1\s+0\s+<none>\s+64Mi\s+128Mi \(50%\)$/m);
  });
});
