import assert from 'node:assert/strict';
import { diffService, diffValues, formatServiceDiff } from '../../cli/diff.js';
import type { Service } from '../../common/types.js';

const svc = (spec: Service['spec'], labels?: Record<string, string>): Service => ({
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web', ...(labels ? { labels } : {}) },
  spec,
});

describe('cli diff computation', () => {
  it('an identical spec and labels is unchanged; stored-only metadata is ignored', () => {
    const stored = { ...svc({ image: 'a', replicas: 3 }, { app: 'web' }), metadata: { name: 'web', labels: { app: 'web' }, version: 9, createdAt: 'x' } };
    const d = diffService(stored, svc({ image: 'a', replicas: 3 }, { app: 'web' }));
    assert.equal(d.action, 'unchanged');
    assert.deepEqual(formatServiceDiff(d), []);
    assert.equal(diffService(svc({ image: 'a' }, {}), svc({ image: 'a' })).action, 'unchanged', 'no labels == empty labels');
  });

  it('changed, added and removed fields, one line each, sorted by path', () => {
    const d = diffService(
      svc({ image: 'a', replicas: 3, env: { OLD: 'x', KEEP: '1' } }),
      svc({ image: 'a', replicas: 6, env: { KEEP: '1', FOO: 'bar' } }, { app: 'web' }),
    );
    assert.equal(d.action, 'configured');
    assert.deepEqual(formatServiceDiff(d), [
      'service/web changed',
      '  + metadata.labels.app: "web"',
      '  + spec.env.FOO: "bar"',
      '  - spec.env.OLD: "x"',
      '  spec.replicas: 3 -> 6',
    ]);
  });

  it('arrays are compared by index', () => {
    const changes = diffValues({ ports: [{ containerPort: 80 }] }, { ports: [{ containerPort: 8080 }, { containerPort: 9090 }] });
    assert.deepEqual(changes, [
      { path: 'ports[0].containerPort', kind: 'changed', from: 80, to: 8080 },
      { path: 'ports[1].containerPort', kind: 'added', to: 9090 },
    ]);
    assert.deepEqual(diffValues({ command: ['a', 'b'] }, { command: ['a'] }), [{ path: 'command[1]', kind: 'removed', from: 'b' }]);
  });

  it('a new service is shown as created with every field added', () => {
    const d = diffService(undefined, svc({ image: 'nginx', replicas: 2 }));
    assert.equal(d.action, 'created');
    assert.deepEqual(formatServiceDiff(d), ['service/web created', '  + spec.image: "nginx"', '  + spec.replicas: 2']);
  });

  it('keys that are not identifiers are quoted', () => {
    assert.deepEqual(diffValues({}, { env: { 'a.b': '1' } }), [{ path: 'env."a.b"', kind: 'added', to: '1' }]);
  });

  it('a scalar replaced by an object shows the old value removed and the new leaves added', () => {
    assert.deepEqual(diffValues({ x: 1 }, { x: { y: 2 } }), [
      { path: 'x', kind: 'removed', from: 1 },
      { path: 'x.y', kind: 'added', to: 2 },
    ]);
  });
});
