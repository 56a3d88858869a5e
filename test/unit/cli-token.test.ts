import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAgentFlags } from '../../agent/cli.js';
import { parseServerFlags } from '../../cli/daemons/server-flags.js';
import { runCli, type Recorded } from '../helpers/berth.js';

describe('berth token rotate join', () => {
  it('asks the API for a new join token and prints it alone on stdout', async () => {
    const log: Recorded[] = [];
    const r = await runCli(['token', 'rotate', 'join'], { routes: { 'POST /v1/tokens/join/rotate': [200, { token: 'BERTH-1-abc-def' }] }, log });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'BERTH-1-abc-def\n');
    assert.match(r.stderr, /previous one no longer works/);
    assert.deepEqual(log.map((l) => `${l.method} ${l.path}`), ['POST /v1/tokens/join/rotate']);
  });

  it('refuses other actions and kinds', async () => {
    assert.notEqual((await runCli(['token', 'rotate', 'admin'])).code, 0);
    assert.match((await runCli(['token', 'show', 'join'])).stderr, /unknown token action "show"/);
    assert.match((await runCli(['token'])).stderr, /needs an action/);
  });
});

describe('berth agent flags and the node certificate', () => {
  it('needs no join token once the data dir holds a node certificate', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-agent-flags-'));
    try {
      assert.throws(() => parseAgentFlags(['--server', 'h:1', '--data-dir', dir]), /join token is required.*holds no node certificate/);
      writeFileSync(path.join(dir, 'node.crt'), 'x');
      assert.equal(parseAgentFlags(['--server', 'h:1', '--data-dir', dir])?.joinToken, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('berth server TLS flags', () => {
  it('parses --advertise-addr, repeatable --tls-san and --node-cert-ttl', () => {
    const o = parseServerFlags(['--advertise-addr', 'cp.example:7071', '--tls-san', 'a.example,10.0.0.9', '--tls-san', 'b.example', '--node-cert-ttl', '20s'])!.server;
    assert.equal(o.advertiseAddr, 'cp.example:7071');
    assert.deepEqual(o.tlsSans, ['a.example', '10.0.0.9', 'b.example']);
    assert.equal(o.nodeCertTtlMs, 20_000);
    assert.equal(parseServerFlags([])!.server.nodeCertTtlMs, undefined);
    assert.throws(() => parseServerFlags(['--node-cert-ttl', 'soon']), /expected a duration like 24h/);
    assert.throws(() => parseServerFlags(['--node-cert-ttl', '2s']), /between 10s and 30d/);
  });
});
