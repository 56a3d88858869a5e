import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../common/errors.js';
import { readManifests, parseManifestText } from '../../common/manifest/load.js';
import { validateService } from '../../common/manifest/validate.js';

const ok = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image: 'berth/web', replicas: 2 } };

function withSpec(spec: Record<string, unknown>) {
  return { ...ok, spec: { ...ok.spec, ...spec } };
}

describe('manifest validation', () => {
  it('accepts a full valid service', () => {
    const full = withSpec({
      mode: 'replicated',
      command: ['httpd'],
      args: ['-f'],
      env: { A: '1' },
      ports: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }],
      resources: { cpu: '250m', memory: '64Mi' },
      healthCheck: { http: { path: '/', port: 8080 }, intervalSeconds: 5, timeoutSeconds: 2, failureThreshold: 3, startPeriodSeconds: 1 },
      restartPolicy: { condition: 'on-failure', delaySeconds: 1, maxAttempts: 5 },
      placement: { constraints: ['node.labels.zone == a', 'node.name != n3'], maxPerNode: 2 },
      update: { parallelism: 2, delaySeconds: 1, monitorSeconds: 5, maxFailureRatio: 0.2, failureAction: 'rollback', order: 'start-first' },
      stopGracePeriodSeconds: 5,
    });
    assert.deepEqual(validateService(full), []);
  });

  it('accepts the container options and checks them', () => {
    const opts = withSpec({
      user: '1000:1000',
      workingDir: '/app',
      hostname: 'web-1',
      init: true,
      tty: false,
      readOnly: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      sysctls: { 'net.core.somaxconn': '1024' },
      ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      stopSignal: 'SIGINT',
      logging: { driver: 'json-file', options: { 'max-size': '10m' } },
      containerLabels: { 'traefik.http.routers.web.rule': 'Host(`example.com`) && PathPrefix(`/a/very/long/path/that/is/longer/than/a/label`)' },
      dependsOn: [{ service: 'db', condition: 'healthy' }],
      ports: [{ containerPort: 80, hostIp: '127.0.0.1' }],
      env: { 'discovery.type': 'single-node' },
    });
    assert.deepEqual(validateService(opts), []);
    assert.deepEqual(validateService(withSpec({ workingDir: 'app' })).map((i) => i.path), ['spec.workingDir']);
    assert.deepEqual(validateService(withSpec({ capAdd: ['net admin'] })).map((i) => i.path), ['spec.capAdd[0]']);
    assert.deepEqual(validateService(withSpec({ ulimits: [{ name: 'nofile', soft: 10, hard: 5 }, { name: 'nofile', soft: 1, hard: 1 }] })), [
      { path: 'spec.ulimits[0].soft', reason: 'soft limit 10 is above the hard limit 5' },
      { path: 'spec.ulimits[1].name', reason: 'duplicate ulimit "nofile"' },
    ]);
    assert.deepEqual(validateService(withSpec({ dependsOn: [{ service: 'db', condition: 'ready' }] })).map((i) => i.path), ['spec.dependsOn[0].condition']);
  });

  it('names the field and the reason', () => {
    assert.deepEqual(validateService(withSpec({ replicas: -1 })), [{ path: 'spec.replicas', reason: 'must be >= 0' }]);
    assert.deepEqual(validateService(withSpec({ bogus: 1 })), [{ path: 'spec.bogus', reason: 'unknown field' }]);
    assert.deepEqual(validateService(withSpec({ ports: [{ containerPort: 70000 }] })), [{ path: 'spec.ports[0].containerPort', reason: 'must be <= 65535' }]);
    assert.deepEqual(validateService(withSpec({ resources: { memory: 'lots' } })).map((i) => i.path), ['spec.resources.memory']);
    assert.deepEqual(validateService(withSpec({ placement: { constraints: ['zone = a'] } })).map((i) => i.path), ['spec.placement.constraints[0]']);
    assert.deepEqual(validateService(withSpec({ healthCheck: { http: { port: 1 }, tcp: { port: 1 } } })).map((i) => i.path), ['spec.healthCheck']);
    assert.deepEqual(validateService({ ...ok, metadata: { name: 'Web_1' } }).map((i) => i.path), ['metadata.name']);
    assert.deepEqual(validateService({ ...ok, metadata: { name: 'a'.repeat(64) } }).map((i) => i.reason), ['must NOT have more than 63 characters']);
    assert.deepEqual(validateService({ ...ok, kind: 'Deployment' }), [{ path: 'kind', reason: 'unknown kind "Deployment" (supported: Service)' }]);
    assert.deepEqual(validateService({ ...ok, spec: { replicas: 1 } }), [{ path: 'spec.image', reason: 'required field is missing' }]);
  });

  it('reports file, document index, field and reason, for every bad document', () => {
    assert.throws(
      () => parseManifestText(`apiVersion: berth/v1\nkind: Service\nmetadata: {name: a}\nspec: {image: x}\n---\napiVersion: berth/v1\nkind: Service\nmetadata: {name: b}\nspec: {image: x, replicas: -1}\n`, 'web.yaml'),
      (err: Error) => err instanceof ValidationError && err.message === 'web.yaml[1] spec.replicas: must be >= 0',
    );
  });

  it('reports YAML syntax errors with file and line', () => {
    assert.throws(
      () => parseManifestText('apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: [unclosed\n', 'bad.yaml'),
      (err: Error) => /^bad\.yaml:\d+: invalid YAML/.test(err.message),
    );
  });

  it('reads a directory, skips empty documents and rejects duplicate names across files', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-manifest-'));
    try {
      const doc = (name: string) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  image: berth/web\n`;
      writeFileSync(path.join(dir, 'a.yaml'), `${doc('a')}---\n`);
      writeFileSync(path.join(dir, 'b.yml'), doc('b'));
      writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
      const docs = await readManifests([dir]);
      assert.deepEqual(docs.map((d) => d.object.metadata.name), ['a', 'b']);
      writeFileSync(path.join(dir, 'c.yaml'), doc('a'));
      await assert.rejects(readManifests([dir]), /c\.yaml\[0\] metadata\.name: duplicate service name "a"/);
      await assert.rejects(readManifests([path.join(dir, 'missing.yaml')]), /missing\.yaml: cannot read: no such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
