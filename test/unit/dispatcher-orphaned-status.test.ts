import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { decideStatus, StatusIgnoreReason } from '../../control-plane/dispatcher/rules.js';

describe('dispatcher rules: a node that comes back after its tasks were orphaned', () => {
  const orphaned: Task = {
    id: 't1',
    name: 'web.1.t1',
    serviceName: 'web',
    slot: 1,
    serviceVersion: 1,
    spec: { image: 'berth/web' },
    desiredState: 'shutdown',
    nodeId: 'n1',
    status: { state: 'orphaned', timestamp: '2026-01-01T00:00:10.000Z', message: 'node n1 is down' },
    createdAt: '2026-01-01T00:00:00.000Z',
    version: 7,
  };

  it('ignores a late `running` report: the orphaned state is final', () => {
    const d = decideStatus(orphaned, 'n1', { state: 'running', timestamp: '2026-01-01T00:00:20.000Z', containerId: 'c1' });
    assert.deepEqual(d, { kind: 'ignore', why: StatusIgnoreReason.Final });
  });

  it('also ignores the `shutdown` a fenced agent reports on reconnection', () => {
    const d = decideStatus(orphaned, 'n1', { state: 'shutdown', timestamp: '2026-01-01T00:00:30.000Z' });
    assert.deepEqual(d, { kind: 'ignore', why: StatusIgnoreReason.Final });
  });
});
