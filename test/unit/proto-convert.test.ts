import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { ProtocolError, reportFromProto, reportToProto, taskFromProto, taskToProto } from '../../proto/convert.js';
import { loadBerthProto } from '../../proto/load.js';

// Through the real wire encoding, with the options the dispatcher and the agent load the proto with.
const session = loadBerthProto().Dispatcher.service.Session;
const overTheWire = (tasks: Task[]): Task[] => {
  const bytes = session.responseSerialize({ changes: { upserts: tasks.map(taskToProto), removedTaskIds: [] } });
  const msg = session.responseDeserialize(bytes);
  assert.equal(msg.message, 'changes');
  return msg.changes!.upserts.map(taskFromProto);
};

const fullTask: Task = {
  id: 't-1',
  name: 'web.1.abc',
  serviceName: 'web',
  slot: 1,
  serviceVersion: 4242,
  spec: {
    mode: 'replicated',
    replicas: 3,
    image: 'nginx:1.27',
    command: ['nginx'],
    args: ['-g', 'daemon off;'],
    env: { A: '1', EMPTY: '' },
    ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp', hostIp: '127.0.0.1' }, { containerPort: 53, protocol: 'udp' }, { containerPort: 9000 }, { containerPort: 81, publishedPort: 30081, mode: 'ingress', proxyProtocol: true }, { containerPort: 82, publishedPort: 30082, mode: 'host' }],
    resources: { cpu: '250m', memory: '64Mi' },
    healthCheck: {
      http: { path: '/healthz', port: 80 },
      intervalSeconds: 0.5,
      timeoutSeconds: 2,
      failureThreshold: 3,
      startPeriodSeconds: 0,
    },
    restartPolicy: { condition: 'on-failure', delaySeconds: 1.5, maxAttempts: 0 },
    placement: { constraints: ['node.labels.zone == a'], maxPerNode: 1 },
    update: { parallelism: 2, delaySeconds: 10, monitorSeconds: 5, maxFailureRatio: 0.25, failureAction: 'rollback', order: 'start-first' },
    stopGracePeriodSeconds: 10,
    pullPolicy: 'if-not-present',
    user: '1000:1000',
    workingDir: '/app',
    hostname: 'web-1',
    dnsSearch: ['shop'],
    init: true,
    tty: false,
    readOnly: true,
    capAdd: ['NET_ADMIN'],
    capDrop: ['ALL'],
    sysctls: { 'net.core.somaxconn': '1024' },
    ulimits: [{ name: 'nofile', soft: 1024, hard: -1 }],
    stopSignal: 'SIGINT',
    logging: { driver: 'json-file', options: { 'max-size': '10m' } },
    containerLabels: { 'com.example.team': 'shop' },
  },
  desiredState: 'running',
  nodeId: 'node-a',
  status: {
    state: 'running',
    timestamp: '2026-01-02T03:04:05.000Z',
    reason: 'Started',
    message: 'started',
    containerId: 'abc123',
    hostPorts: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp' }],
    exitCode: 0,
    lastOutput: 'line 1\nline 2',
    health: 'healthy',
    lastProbe: { time: '2026-01-02T03:04:06.000Z', ok: true, message: 'GET http://172.17.0.5:80/healthz -> 200' },
  },
  createdAt: '2026-01-02T03:04:00.000Z',
  version: 17,
};

const minimalTask: Task = {
  id: 't-2',
  name: 'batch.1.x',
  serviceName: 'batch',
  slot: 1,
  serviceVersion: 1,
  spec: { image: 'busybox' },
  desiredState: 'shutdown',
  status: { state: 'pending', timestamp: '2026-01-02T03:04:05.000Z' },
  createdAt: '2026-01-02T03:04:00.000Z',
};

describe('proto conversions', () => {
  it('round-trips a task using every spec field', () => {
    assert.deepStrictEqual(overTheWire([fullTask]), [fullTask]);
  });

  it('keeps absent fields absent and empty-but-present lists present', () => {
    const withEmpties: Task = {
      ...minimalTask,
      spec: {
        image: 'busybox',
        command: [],
        env: {},
        placement: { constraints: [] },
        healthCheck: { exec: { command: ['true'] } },
        resources: {},
      },
    };
    assert.deepStrictEqual(overTheWire([minimalTask, withEmpties]), [minimalTask, withEmpties]);
  });

  it('round-trips a status report, and refuses one without a state', () => {
    const report = { taskId: 't-1', status: fullTask.status };
    const bytes = session.requestSerialize({ statuses: { reports: [reportToProto(report)] } });
    const msg = session.requestDeserialize(bytes);
    assert.deepStrictEqual(msg.statuses!.reports.map(reportFromProto), [report]);

    const bad = session.requestDeserialize(
      session.requestSerialize({ statuses: { reports: [{ taskId: 't-1', status: { timestamp: 'now' } }] } }),
    );
    assert.throws(() => reportFromProto(bad.statuses!.reports[0]!), ProtocolError);
  });

  it('carries every health value and a failed probe, and keeps a status without health free of it', () => {
    const reports = (['starting', 'healthy', 'unhealthy'] as const).map((health, i) => ({
      taskId: `t-${i}`,
      status: {
        state: 'running' as const,
        timestamp: '2026-01-02T03:04:05.000Z',
        health,
        lastProbe: { time: '2026-01-02T03:04:06.000Z', ok: false, message: '' },
      },
    }));
    const plain = { taskId: 't-9', status: { state: 'running' as const, timestamp: '2026-01-02T03:04:05.000Z' } };
    const all = [...reports, plain];
    const msg = session.requestDeserialize(session.requestSerialize({ statuses: { reports: all.map(reportToProto) } }));
    assert.deepStrictEqual(msg.statuses!.reports.map(reportFromProto), all);
  });

  it('refuses a health value this side does not know', () => {
    const p = reportToProto({ taskId: 't-1', status: { state: 'running', timestamp: 'now' } });
    const odd = { ...p, status: { ...p.status!, health: 'TASK_HEALTH_SICK' } } as unknown as Parameters<typeof reportFromProto>[0];
    assert.throws(() => reportFromProto(odd), ProtocolError);
  });
});
