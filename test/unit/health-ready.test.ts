// READY in a service's status: live running tasks that are healthy, or have no health check.
import assert from 'node:assert/strict';
import type { Service, Task, TaskStatus } from '../../common/types.js';
import { serviceView } from '../../control-plane/api/views.js';
import { task as buildTask } from '../helpers/builders.js';

const svc = (healthCheck?: Service['spec']['healthCheck']): Service => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth/web', replicas: 4, ...(healthCheck ? { healthCheck } : {}) },
});

let n = 0;
function task(service: Service, status: Partial<TaskStatus>, over: Partial<Task> = {}): Task {
  n += 1;
  const at = '2026-01-01T00:00:00.000Z';
  return buildTask({ id: `t${n}`, name: `web.${n}.x`, slot: n, spec: service.spec, status: { state: 'running', timestamp: at, ...status }, createdAt: at, ...over });
}

describe('service READY count', () => {
  it('counts only healthy running tasks of a service with a health check', () => {
    const s = svc({ http: { port: 8080 } });
    const tasks = [
      task(s, { health: 'healthy' }),
      task(s, { health: 'starting' }),
      task(s, { health: 'unhealthy' }),
      task(s, { state: 'starting' }),
      task(s, { state: 'failed', health: 'healthy' }),
      task(s, { health: 'healthy' }, { desiredState: 'shutdown' }),
    ];
    assert.deepEqual(serviceView(s, tasks).status, { desired: 4, tasks: 4, running: 3, ready: 1, upToDate: 4, available: 1 });
  });

  it('counts every running task of a service without a health check', () => {
    const s = svc();
    const tasks = [task(s, {}), task(s, {}), task(s, { state: 'preparing' })];
    assert.deepEqual(serviceView(s, tasks).status, { desired: 4, tasks: 3, running: 2, ready: 2, upToDate: 3, available: 2 });
  });
});
