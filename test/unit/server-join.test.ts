// Servers joining and leaving: `berth server --join` flags, the etcd peer address (--etcd-peer-addr,
// kept, derived), the initial cluster handed to a joining member, and `berth server leave|rm`
// against a fake API.
import assert from 'node:assert/strict';
import { parseServerFlags } from '../../cli/daemons/server-flags.js';
import { serverAdminCommand } from '../../cli/commands/server-admin.js';
import { runClientCommand } from '../../cli/run-client.js';
import { initialCluster, memberAddress } from '../../control-plane/etcd/member.js';
import { fakeFetch, NOW, type Recorded } from '../helpers/berth.js';

async function serverCli(args: string[], routes: Record<string, [number, unknown]>, log: Recorded[] = []) {
  let stdout = '';
  let stderr = '';
  const code = await runClientCommand(serverAdminCommand, [...args, '--server', 'http://api.test:7070', '--token', 't0k'], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    homeDir: '/nonexistent-home',
    now: () => NOW,
    fetch: fakeFetch(routes, log),
  });
  return { code, stdout, stderr };
}

describe('servers joining and leaving', () => {
  it('parses --join, --token-file and --etcd-peer-addr; refuses them incomplete or with --etcd', () => {
    const f = parseServerFlags(['--no-agent', '--name', 'cp-2', '--join', '10.0.0.1:7071', '--token-file', '/tmp/manager-token', '--etcd-peer-addr', '10.0.0.2:7072'])!;
    assert.deepEqual(f.join, { address: '10.0.0.1:7071', tokenFile: '/tmp/manager-token' });
    assert.equal(f.server.etcdPeerAddr, '10.0.0.2:7072');
    assert.equal(parseServerFlags(['--no-agent'])!.join, undefined);
    assert.throws(() => parseServerFlags(['--join', '10.0.0.1:7071']), /--join needs --token-file FILE: the manager token/);
    assert.throws(() => parseServerFlags(['--join', '10.0.0.1', '--token-file', 't']), /--join "10.0.0.1": expected HOST:PORT/);
    assert.throws(() => parseServerFlags(['--token-file', 't']), /--token-file is for --join/);
    assert.throws(() => parseServerFlags(['--join', 'a:1', '--token-file', 't', '--etcd', 'http://e:2379']), /--join and --etcd/);
  });

  it('the peer address: the flag first, then the one kept, then the advertised or listen host; a wildcard or no port refused', async () => {
    const base = { dataDir: '/nonexistent', agentListen: '0.0.0.0:7071' };
    assert.deepEqual(await memberAddress({ ...base, etcdPeerAddr: '10.0.0.2:2380' }, { peerAddress: '10.0.0.9:7072' }), { host: '10.0.0.2', port: 2380 });
    assert.deepEqual(await memberAddress(base, { peerAddress: '10.0.0.9:7072' }), { host: '10.0.0.9', port: 7072 });
    assert.deepEqual(await memberAddress({ ...base, etcdPeerAddr: '[fd00::2]:7072' }, undefined), { host: 'fd00::2', port: 7072 });
    assert.equal((await memberAddress({ ...base, agentListen: '127.0.0.1:7071' }, undefined)).host, '127.0.0.1');
    assert.equal((await memberAddress({ ...base, agentListen: '127.0.0.1:7071', advertiseAddr: 'cp-1.example:7071' }, undefined)).host, 'cp-1.example');
    await assert.rejects(memberAddress({ ...base, etcdPeerAddr: '0.0.0.0:7072' }, undefined), /--etcd-peer-addr "0.0.0.0:7072": the other servers must be able to dial it/);
    await assert.rejects(memberAddress({ ...base, etcdPeerAddr: '10.0.0.2' }, undefined), /--etcd-peer-addr "10.0.0.2": expected HOST:PORT/);
  });

  it('the initial cluster names every member, the joining one (not started, no name yet) by its new name', () => {
    const members = [
      { id: '1', name: 'cp-1', peerUrls: ['https://10.0.0.1:7072'], clientUrls: [], learner: false },
      { id: '2', name: '', peerUrls: ['https://10.0.0.2:7072'], clientUrls: [], learner: true },
    ];
    assert.equal(initialCluster(members, { id: '2', name: 'cp-2' }), 'cp-1=https://10.0.0.1:7072,cp-2=https://10.0.0.2:7072');
  });

  it('server leave and server rm NAME call the API and print what happened; a refusal exits 6 with its reason', async () => {
    const log: Recorded[] = [];
    const left = await serverCli(['leave'], { 'POST /v1/servers/leave': [202, { name: 'cp-2', message: 'server cp-2 is leaving: it stops, then its etcd member is removed' }] }, log);
    assert.equal(left.code, 0, left.stderr);
    assert.match(left.stdout, /server cp-2 is leaving/);
    const removed = await serverCli(['rm', 'cp-3'], { 'DELETE /v1/servers/cp-3': [200, { removed: 'cp-3', memberId: '42' }] }, log);
    assert.equal(removed.stdout, 'server/cp-3 removed (etcd member 42)\n');
    assert.deepEqual(log.map((r) => `${r.method} ${r.path}`), ['POST /v1/servers/leave', 'DELETE /v1/servers/cp-3']);
    const refused = await serverCli(['rm', 'cp-1'], { 'DELETE /v1/servers/cp-1': [409, { error: 'Conflict', message: 'server "cp-1" is running: run "berth server leave" against it, or stop it first' }] });
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /server "cp-1" is running/);
    const usage = await serverCli(['rm'], {});
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /server rm takes one server NAME/);
  });
});
