// `berth server` flags for several servers (--name, --leader-lease), and `berth get servers` /
// `describe server` against a fake API.
import assert from 'node:assert/strict';
import { parseServerFlags } from '../../cli/daemons/server-flags.js';
import { ago, runCli } from '../helpers/berth.js';

const servers = [
  { name: 'cp-1', apiUrl: 'http://10.0.0.1:7070', agentAddress: '10.0.0.1:7071', serverVersion: '0.1.0', startedAt: ago(2 * 3600_000), leader: true, leaderSince: ago(3600_000), etcd: 'healthy' },
  { name: 'cp-2', apiUrl: 'http://10.0.0.2:7070', agentAddress: '10.0.0.2:7071', serverVersion: '0.1.0', startedAt: ago(300_000), leader: false, etcd: 'unhealthy', etcdProblems: ['http://10.0.0.9:2379: ECONNREFUSED'] },
];
const routes: Record<string, [number, unknown]> = {
  'GET /v1/servers': [200, { items: servers }],
  'GET /v1/servers/cp-1': [200, servers[0]],
  'GET /v1/events': [200, { items: [{ id: 'e1', time: ago(3600_000), type: 'Normal', reason: 'LeaderElected', object: { kind: 'server', name: 'cp-1' }, message: 'server cp-1 is the leader' }] }],
};

describe('several servers: flags and get/describe servers', () => {
  it('parses --name and --leader-lease, and refuses a lease under 2 s or a bad name', () => {
    const f = parseServerFlags(['--no-agent', '--name', 'cp-1', '--leader-lease', '3'])!;
    assert.equal(f.server.name, 'cp-1');
    assert.equal(f.server.leaderLeaseSeconds, 3);
    const d = parseServerFlags(['--no-agent'])!;
    assert.equal(d.server.name, undefined, 'the host name is the server\'s default');
    assert.equal(d.server.leaderLeaseSeconds, undefined);
    assert.throws(() => parseServerFlags(['--leader-lease', '1']), /--leader-lease/);
    assert.throws(() => parseServerFlags(['--leader-lease', '2.5']), /--leader-lease/);
    assert.throws(() => parseServerFlags(['--name', 'bad name']), /--name/);
  });

  it('get servers: NAME, ADDRESS, ROLE, ETCD, VERSION, AGE; -o json keeps leader true|false and etcd', async () => {
    const r = await runCli(['get', 'servers'], { routes });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME +ADDRESS +ROLE +ETCD +VERSION +AGE$/);
    assert.match(lines[1]!, /^cp-1 +http:\/\/10\.0\.0\.1:7070 agents 10\.0\.0\.1:7071 +leader +healthy +0\.1\.0 +2h$/);
    assert.match(lines[2]!, /^cp-2 +.* +follower +unhealthy +0\.1\.0 +5m$/);
    const j = await runCli(['get', 'servers', '-o', 'json'], { routes });
    assert.deepEqual((JSON.parse(j.stdout) as { items: { name: string; leader: boolean; etcd: string }[] }).items.map((s) => [s.name, s.leader, s.etcd]), [['cp-1', true, 'healthy'], ['cp-2', false, 'unhealthy']]);
  });

  it('describe server: role and since when, addresses, its leadership events', async () => {
    const r = await runCli(['describe', 'server', 'cp-1'], { routes });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Role: +leader \(since /);
    assert.match(r.stdout, /Agents join: +10\.0\.0\.1:7071/);
    assert.match(r.stdout, /LeaderElected/);
    assert.match(r.stdout, /Etcd: +healthy/);
  });

  it('describe server: an unhealthy etcd names the endpoints that do not answer', async () => {
    const r = await runCli(['describe', 'server', 'cp-2'], { routes: { ...routes, 'GET /v1/servers/cp-2': [200, servers[1]] } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Etcd: +unhealthy\n +http:\/\/10\.0\.0\.9:2379: ECONNREFUSED/);
  });
});
