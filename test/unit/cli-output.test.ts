import assert from 'node:assert/strict';
import { formatAge, formatDuration } from '../../cli/output/age.js';
import { renderTable } from '../../cli/output/table.js';
import { nodesView, servicesView, tasksView } from '../../cli/output/views.js';
import { agentService, failedTask, node1, NOW, pendingTask, runningTask, webService } from '../helpers/berth.js';

describe('cli output: tables and ages', () => {
  it('pads every column to its widest cell, three spaces apart, without trailing blanks', () => {
    const text = renderTable(['NAME', 'STATE', 'MESSAGE'], [
      ['web.1', 'running', ''],
      ['api.10', 'pending', 'no nodes'],
    ]);
    assert.equal(text, ['NAME     STATE     MESSAGE', 'web.1    running', 'api.10   pending   no nodes'].join('\n'));
  });

  it('flattens multi-line cells so rows stay on one line', () => {
    const text = renderTable(['A', 'B'], [['x', 'line one\nline two']]);
    assert.equal(text.split('\n').length, 2);
    assert.match(text, /line one line two$/);
  });

  it('prints ages like kubectl: the largest whole unit', () => {
    assert.equal(formatDuration(5_000), '5s');
    assert.equal(formatDuration(59_999), '59s');
    assert.equal(formatDuration(3 * 60_000 + 59_000), '3m');
    assert.equal(formatDuration(2 * 3600_000 + 5), '2h');
    assert.equal(formatDuration(4 * 86400_000), '4d');
    assert.equal(formatDuration(400 * 86400_000), '1y');
    assert.equal(formatAge(new Date(NOW + 10_000).toISOString(), NOW), '0s', 'clock skew never shows a negative age');
    assert.equal(formatAge(undefined, NOW), '<unknown>');
  });
});

describe('cli output: get views', () => {
  it('services: REPLICAS is running/desired, wide adds PORTS', () => {
    const v = servicesView([webService, agentService], NOW, false);
    assert.deepEqual(v.headers, ['NAME', 'MODE', 'REPLICAS', 'IMAGE', 'AGE']);
    assert.deepEqual(v.rows, [
      ['log-agent', 'global', '2/2', 'berth/busybox', '2h'],
      ['web', 'replicated', '4/6', 'berth/web:1', '3m'],
    ]);
    const wide = servicesView([webService], NOW, true);
    assert.equal(wide.headers.at(-1), 'PORTS');
    assert.equal(wide.rows[0]?.at(-1), '8080/tcp,9090->9090/udp');
  });

  it('tasks: node names instead of ids, slots in numeric order, the pending reason as MESSAGE', () => {
    const names = new Map([[node1.id, node1.name]]);
    const v = tasksView([pendingTask, failedTask, runningTask], names, NOW, false);
    assert.deepEqual(v.headers, ['NAME', 'SERVICE', 'NODE', 'DESIRED', 'STATE', 'RESTARTS', 'AGE', 'MESSAGE']);
    assert.deepEqual(v.rows, [
      ['web.1.a1b2c3', 'web', 'node-1', 'running', 'running', '0', '5s', ''],
      ['web.2.998877', 'web', 'node-1', 'shutdown', 'failed', '0', '5s', 'exit code 3'],
      ['web.10.ffeedd', 'web', '<none>', 'running', 'pending', '0', '2m', '0/0 nodes available: no nodes available'],
    ]);
  });

  it('tasks wide: bound host ports and the short container id', () => {
    const v = tasksView([runningTask, pendingTask], new Map(), NOW, true);
    assert.deepEqual(v.headers.slice(-2), ['PORTS', 'CONTAINER']);
    assert.deepEqual(v.rows[0]?.slice(-2), ['32768->8080/tcp', '0123456789ab']);
    assert.deepEqual(v.rows[1]?.slice(-2), ['<none>', '<none>']);
    assert.equal(v.rows[0]?.[2], 'n-7f3a9c', 'an unknown node shows its id');
  });

  it('nodes: allocatable cpu and memory, task count, sorted labels', () => {
    const v = nodesView([node1], NOW, false);
    assert.deepEqual(v.headers, ['NAME', 'STATUS', 'AVAILABILITY', 'CPU', 'MEMORY', 'TASKS', 'LABELS', 'AGE']);
    assert.deepEqual(v.rows[0], ['node-1', 'ready', 'active', '3500m', '7Gi', '1', 'disk=ssd,zone=a', '4d']);
    const wide = nodesView([node1], NOW, true);
    assert.deepEqual(wide.headers.slice(-4), ['ID', 'ADDRESS', 'RUNTIME', 'VERSION']);
    assert.deepEqual(wide.rows[0]?.slice(-4), ['n-7f3a9c', '10.0.0.1', 'docker', '<none>']);
    assert.deepEqual(nodesView([{ ...node1, agentVersion: '0.1.0' }], NOW, true).rows[0]?.slice(-1), ['0.1.0']);
  });
});
