import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateService } from '../../common/manifest/validate.js';
import { bindAllowed, configMode, configTarget, DEFAULT_BIND_ALLOW, imageRegistry, modeRefusal, secretMode, secretTarget } from '../../common/workloads.js';
import { SecretBox, SECRETS_KEY_FILE } from '../../control-plane/secrets/secret-box.js';
import { registryAuthHeader } from '../../agent/driver/docker.js';
import { placeTasks } from '../../control-plane/scheduler/placement.js';
import { taskFromProto, taskToProto } from '../../proto/convert.js';
import { loadBerthProto } from '../../proto/load.js';
import { makeNode, task } from '../helpers/builders.js';

const base = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'db' }, spec: { image: 'postgres' } };
const withSpec = (spec: Record<string, unknown>) => ({ ...base, spec: { ...base.spec, ...spec } });

describe('volumes and secrets in the spec', () => {
  it('accepts named volumes, binds under the allow-list, tmpfs and secrets', () => {
    const svc = withSpec({
      volumes: [
        { name: 'pgdata', target: '/var/lib/postgresql/data' },
        { hostPath: '/srv/conf', target: '/etc/app', readOnly: true },
        { tmpfs: true, target: '/tmp', sizeBytes: 1 << 20 },
      ],
      secrets: [{ source: 'db-pass' }, { source: 'tls-key', target: '/etc/tls/key.pem', mode: '0440' }],
    });
    assert.deepEqual(validateService(svc), []);
  });

  it('refuses a bind mount outside the allow-list, naming the field and the list', () => {
    for (const hostPath of ['/', '/etc', '/var/run/docker.sock', '/srv/../etc', '/srvx']) {
      const issues = validateService(withSpec({ volumes: [{ hostPath, target: '/x' }] }));
      assert.equal(issues.length, 1, hostPath);
      assert.equal(issues[0]!.path, 'spec.volumes[0].hostPath');
      assert.match(issues[0]!.reason, /outside the bind-mount allow-list \(\/srv, \/var\/lib\/berth-volumes\)/);
    }
    assert.match(validateService(withSpec({ volumes: [{ hostPath: 'srv/x', target: '/x' }] }))[0]!.reason, /absolute/);
    assert.deepEqual(validateService(withSpec({ volumes: [{ hostPath: '/etc/app', target: '/x' }] }), { bindAllow: ['/etc/app'] }), []);
  });

  it('refuses a volume of no kind or two, a size on a non-tmpfs, duplicate targets and sources, relative targets', () => {
    const issues = validateService(
      withSpec({
        volumes: [{ target: '/a' }, { name: 'v', tmpfs: true, target: '/b' }, { name: 'w', target: '/c', sizeBytes: 5 }, { name: 'x', target: '/a' }],
        secrets: [{ source: 's' }, { source: 's', target: '/d' }],
      }),
    );
    const paths = issues.map((i) => i.path);
    assert.deepEqual(paths, ['spec.volumes[0]', 'spec.volumes[1]', 'spec.volumes[2].sizeBytes', 'spec.volumes[3].target', 'spec.secrets[1].source']);
    assert.equal(validateService(withSpec({ volumes: [{ name: 'v', target: 'data' }] }))[0]!.path, 'spec.volumes[0].target');
  });

  it('reads a mode as octal digits or a number, and refuses YAML\'s decimal 400', () => {
    assert.equal(secretMode({ source: 'a' }), 0o400);
    assert.equal(secretMode({ source: 'a', mode: '0440' }), 0o440);
    assert.equal(secretMode({ source: 'a', mode: '0o444' }), 0o444);
    assert.equal(secretMode({ source: 'a', mode: 0o440 }), 0o440);
    assert.match(modeRefusal(400)!, /ambiguous mode 400.*"0400"/);
    assert.match(modeRefusal('0999')!, /invalid file mode/);
    assert.match(modeRefusal(1000)!, /invalid file mode/);
    assert.equal(secretTarget({ source: 'a' }), '/run/secrets/a');
  });

  it('configs: default target /<name> and mode 0444, errors naming the field, targets distinct from secrets and volumes', () => {
    assert.equal(configTarget({ source: 'nginx.conf' }), '/nginx.conf');
    assert.equal(configMode({ source: 'a' }), 0o444);
    assert.deepEqual(validateService(withSpec({ configs: [{ source: 'app', target: '/etc/app.conf', mode: '0440' }, { source: 'b' }] })), []);
    const issues = validateService(
      withSpec({
        volumes: [{ tmpfs: true, target: '/etc/app.conf' }],
        secrets: [{ source: 'b', target: '/b' }],
        configs: [{ source: 'a', target: '/etc/app.conf' }, { source: 'a', target: '/c' }, { source: 'b', target: '/b' }, { source: 'd', mode: 400 }],
      }),
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      ['spec.configs[0].target', 'spec.configs[1].source', 'spec.configs[2].target', 'spec.configs[3].mode'],
    );
    assert.match(issues[0]!.reason, /target \/etc\/app.conf is already used by spec.volumes\[0\]/);
    const shape = validateService(withSpec({ configs: [{ source: 'e', target: 'rel' }, { source: '-x' }, { target: '/y' }] })).map((i) => i.path);
    assert.deepEqual(shape.sort(), ['spec.configs[0].target', 'spec.configs[1].source', 'spec.configs[2].source'].sort());
  });

  it('names the registry of an image as the Engine does', () => {
    assert.equal(imageRegistry('127.0.0.1:5000/app:1'), '127.0.0.1:5000');
    assert.equal(imageRegistry('registry.example.com/team/app'), 'registry.example.com');
    assert.equal(imageRegistry('localhost/app'), 'localhost');
    assert.equal(imageRegistry('berth/busybox'), undefined);
    assert.equal(imageRegistry('nginx:1.27'), undefined);
  });

  it('encodes registry credentials as the Engine decodes them (URL alphabet, padded)', () => {
    for (const password of ['p', 'pw', 'p?>~~', 'a-much-longer-password-of-some-length']) {
      const h = registryAuthHeader({ serverAddress: '127.0.0.1:5000', username: 'u', password });
      assert.equal(h.length % 4, 0, 'padded');
      assert.match(h, /^[A-Za-z0-9_-]+=*$/);
      assert.deepEqual(JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')), { username: 'u', password, serveraddress: '127.0.0.1:5000' });
    }
  });

  it('normalises paths before the allow-list check', () => {
    assert.ok(bindAllowed('/srv', DEFAULT_BIND_ALLOW));
    assert.ok(bindAllowed('/var/lib/berth-volumes/a/b', DEFAULT_BIND_ALLOW));
    assert.ok(!bindAllowed('/var/lib/berth-volumes/../docker', DEFAULT_BIND_ALLOW));
    assert.ok(!bindAllowed('/x', []));
  });

  it('travels the wire protocol (mode as a number), never a value', () => {
    const spec = {
      image: 'p',
      volumes: [{ name: 'v', target: '/v', readOnly: true }, { tmpfs: true, target: '/t', sizeBytes: 10 }],
      secrets: [{ source: 's', mode: '0440' }, { source: 'u', target: '/u' }],
      configs: [{ source: 'c', target: '/etc/c' }],
    };
    const session = loadBerthProto().Dispatcher.service.Session;
    const msg = session.responseDeserialize(session.responseSerialize({ changes: { upserts: [taskToProto(task({ spec }))], removedTaskIds: [] } }));
    const back = taskFromProto(msg.changes!.upserts[0]!);
    assert.deepEqual(back.spec, { ...spec, secrets: [{ source: 's', mode: 0o440 }, { source: 'u', target: '/u' }], configs: [{ source: 'c', target: '/etc/c' }] });
  });
});

describe('secret box', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'berth-box-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates its key file 0600 once, seals without the value in the sealed form, opens with the same key only', () => {
    const box = SecretBox.ensure(dir);
    assert.equal(statSync(path.join(dir, SECRETS_KEY_FILE)).mode & 0o777, 0o600);
    const sealed = box.seal('db', Buffer.from('hunter2-very-secret'));
    assert.ok(!JSON.stringify(sealed).includes('hunter2'));
    assert.ok(!JSON.stringify(sealed).includes(Buffer.from('hunter2-very-secret').toString('base64')));
    assert.equal(SecretBox.ensure(dir).open('db', sealed).toString(), 'hunter2-very-secret');
    assert.throws(() => box.open('other', sealed), /does not decrypt/);
    const other = mkdtempSync(path.join(tmpdir(), 'berth-box-'));
    try {
      assert.throws(() => SecretBox.ensure(other).open('db', sealed), /sealed with key .* copy secrets\.key/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

describe('scheduler: a named volume pins its service to the node it lives on', () => {
  const spec = { image: 'p', volumes: [{ name: 'pgdata', target: '/d' }] };
  it('places anywhere while no node has the volume, then only on its node, saying why elsewhere', () => {
    const nodes = [makeNode('n1'), makeNode('n2')];
    const free = placeTasks([task({ spec })], nodes, []);
    assert.equal(free.placements.length, 1);
    const pinned = [makeNode('n1'), makeNode('n2', { volumes: [{ name: 'pgdata', inUse: false }] })];
    const r = placeTasks([task({ spec })], pinned, []);
    assert.deepEqual(r.placements.map((p) => p.nodeId), ['n2']);
    const down = [makeNode('n1'), makeNode('n2', { state: 'down', volumes: [{ name: 'pgdata', inUse: false }] })];
    const stuck = placeTasks([task({ spec })], down, []);
    assert.equal(stuck.placements.length, 0);
    assert.match(stuck.unplaceable[0]!.message, /1 without volume pgdata \(on n2\)/);
  });
});
