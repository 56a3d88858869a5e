import assert from 'node:assert/strict';
import { ROLES, type ApiTokenInfo } from '../../common/access.js';
import type { AuditEntry } from '../../common/audit.js';
import { ALL_PERMISSIONS, can, Permission, watchPermission } from '../../control-plane/auth/permissions.js';
import { changedPaths } from '../../control-plane/api/audit-hook.js';
import { parseTtl, tokensView } from '../../cli/commands/api-tokens.js';
import { auditView } from '../../cli/output/audit.js';
import { UsageError } from '../../cli/command.js';
import { ago, NOW, runCli, type Recorded } from '../helpers/berth.js';

describe('permission table', () => {
  it('gives the viewer reading only (secrets: their names, never values), without logs, exec, audit or tokens', () => {
    for (const p of ALL_PERMISSIONS) {
      const expected = ['services:read', 'tasks:read', 'nodes:read', 'events:read', 'servers:read', 'meta:read', 'metrics:read', 'usage:read', 'secrets:read', 'configs:read'].includes(p);
      assert.equal(can('viewer', p), expected, p);
    }
  });

  it('lets the operator change services, read logs, exec and read the audit, not nodes or tokens', () => {
    for (const p of [Permission.ServicesWrite, Permission.TasksLogs, Permission.TasksExec, Permission.AuditRead, Permission.ServicesRead]) assert.ok(can('operator', p), p);
    for (const p of [Permission.NodesWrite, Permission.TokensRead, Permission.TokensWrite]) assert.ok(!can('operator', p), p);
  });

  it('gives the admin everything, and each role at least what the one below has', () => {
    for (const p of ALL_PERMISSIONS) assert.ok(can('admin', p), p);
    for (const p of ALL_PERMISSIONS) if (can('viewer', p)) assert.ok(can('operator', p), p);
  });

  it('grants a permission no role lists to nobody', () => {
    for (const role of ROLES) assert.ok(!can(role, 'secrets:read-value' as Permission), role);
  });

  it('maps watch kinds to reading that kind', () => {
    assert.equal(watchPermission('services'), 'services:read');
    assert.equal(watchPermission('tasks'), 'tasks:read');
    assert.equal(watchPermission('nodes'), 'nodes:read');
    assert.equal(watchPermission('events'), 'events:read');
  });
});

describe('audit: changed field paths', () => {
  it('names changed leaves, never values', () => {
    const before = { image: 'a:1', replicas: 2, env: { A: 'x', B: 'y' }, ports: [{ containerPort: 80 }] };
    const after = { image: 'a:2', replicas: 2, env: { A: 'x', C: 'z' }, ports: [{ containerPort: 81 }] };
    assert.deepEqual(changedPaths('spec', before, after), ['spec.env.B', 'spec.env.C', 'spec.image', 'spec.ports[0].containerPort']);
  });

  it('lists every field of a new object and nothing for an unchanged one', () => {
    assert.deepEqual(changedPaths('spec', undefined, { image: 'a', resources: { cpu: '1' } }), ['spec.image', 'spec.resources.cpu']);
    assert.deepEqual(changedPaths('spec', { a: [1, 2] }, { a: [1, 2] }), []);
    assert.deepEqual(changedPaths('spec', { a: [1, 2] }, { a: [1] }), ['spec.a']);
  });
});

describe('berth token', () => {
  it('parses --ttl durations', () => {
    assert.equal(parseTtl('90s'), 90);
    assert.equal(parseTtl('1h30m'), 5400);
    assert.equal(parseTtl('7d'), 7 * 86400);
    assert.throws(() => parseTtl('soon'), UsageError);
    assert.throws(() => parseTtl('0s'), UsageError);
  });

  it('create prints the token alone on stdout', async () => {
    const log: Recorded[] = [];
    const routes = { 'POST /v1/tokens': [200, { name: 'ci', role: 'viewer', createdAt: ago(0), token: 'berth-api-secret' }] as [number, unknown] };
    const r = await runCli(['token', 'create', 'ci', '--role', 'viewer', '--ttl', '1h'], { routes, log });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'berth-api-secret\n');
    assert.match(r.stderr, /token\/ci created \(role viewer/);
    assert.deepEqual(log[0]?.body, { name: 'ci', role: 'viewer', ttlSeconds: 3600 });
  });

  it('refuses an unknown role or a missing one before calling the server', async () => {
    const log: Recorded[] = [];
    assert.equal((await runCli(['token', 'create', 'ci', '--role', 'boss'], { log })).code, 2);
    assert.equal((await runCli(['token', 'create', 'ci'], { log })).code, 2);
    assert.equal((await runCli(['token', 'frobnicate'], { log })).code, 2);
    assert.equal(log.length, 0);
  });

  it('lists tokens as a table and revokes one', async () => {
    const items: ApiTokenInfo[] = [
      { name: 'admin', role: 'admin', createdAt: ago(86400_000 * 3), builtin: true },
      { name: 'ci', role: 'operator', createdAt: ago(3600_000), expiresAt: new Date(NOW + 7200_000).toISOString(), lastUsedAt: ago(60_000) },
    ];
    const routes = { 'GET /v1/tokens': [200, { items }] as [number, unknown], 'DELETE /v1/tokens/ci': [200, { name: 'ci', revoked: true }] as [number, unknown] };
    const r = await runCli(['token', 'list'], { routes });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+ROLE\s+CREATED\s+EXPIRES\s+LAST USED$/);
    assert.match(lines[1]!, /^admin \(built-in\)\s+admin\s+3d ago\s+never\s+never$/);
    assert.match(lines[2]!, /^ci\s+operator\s+1h ago\s+in 2h\s+1m ago$/);
    const json = await runCli(['token', 'list', '-o', 'json'], { routes });
    assert.deepEqual(JSON.parse(json.stdout), { items });
    const revoked = await runCli(['token', 'revoke', 'ci'], { routes });
    assert.equal(revoked.stdout, 'token/ci revoked\n');
  });

  it('shows expired tokens as expired', () => {
    const view = tokensView([{ name: 'old', role: 'viewer', createdAt: ago(7200_000), expiresAt: ago(3600_000) }], NOW);
    assert.equal(view.rows[0]![3], 'expired 1h ago');
  });
});

describe('berth get audit', () => {
  const entries: AuditEntry[] = [
    { id: '1', time: '2026-01-10T11:59:00.123Z', token: 'ci', role: 'operator', source: '10.0.0.5', verb: 'POST /v1/apply', objects: ['service/web'], status: 200, changed: { 'service/web': ['spec.image'] } },
    { id: '2', time: '2026-01-10T11:59:30.000Z', token: 'ro', role: 'viewer', source: '10.0.0.6', verb: 'DELETE /v1/services/:name', objects: ['service/web'], status: 403, refused: true },
    { id: '3', time: '2026-01-10T11:59:40.000Z', token: '', role: '', source: '10.0.0.7', verb: 'POST /v1/apply', objects: [], status: 401 },
  ];

  it('shows TIME, TOKEN, ROLE, SOURCE, VERB, OBJECT, RESULT', () => {
    const view = auditView(entries);
    assert.deepEqual(view.headers, ['TIME', 'TOKEN', 'ROLE', 'SOURCE', 'VERB', 'OBJECT', 'RESULT']);
    assert.deepEqual(view.rows[0], ['2026-01-10T11:59:00Z', 'ci', 'operator', '10.0.0.5', 'POST /v1/apply', 'service/web', '200']);
    assert.equal(view.rows[1]![6], 'refused');
    assert.deepEqual(view.rows[2]!.slice(1, 3), ['<none>', '<none>']);
  });

  it('prints the table, or the entries as json', async () => {
    const routes = { 'GET /v1/audit': [200, { items: entries, version: 9 }] as [number, unknown] };
    const r = await runCli(['get', 'audit'], { routes });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 4);
    const json = await runCli(['get', 'audit', '-o', 'json'], { routes });
    assert.deepEqual(JSON.parse(json.stdout), { items: entries });
    assert.equal((await runCli(['get', 'audit', '--service', 'web'], { routes })).code, 2);
  });
});
