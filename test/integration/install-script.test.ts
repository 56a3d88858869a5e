// deploy/install.sh into a staging root (--root): the files it writes for a server and an agent
// (Berth under /opt/berth, the berth link, the systemd units with their restart, ordering, kill
// mode and limits, the agent's join token 0600), units that `systemd-analyze verify` accepts
// without a warning, a refused agent without --server writing nothing, and uninstall (data kept
// unless --purge).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/berth.js';

const SCRIPT = path.join(REPO_ROOT, 'deploy', 'install.sh');

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

async function hasSystemdAnalyze(): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v systemd-analyze'])).code === 0;
}

describe('deploy/install.sh into a staging root', function () {
  this.timeout(120_000);
  const work = mkdtempSync(path.join(tmpdir(), 'berth-install-'));
  const source = path.join(work, 'src');
  const tokenFile = path.join(work, 'join-token');
  let root = '';

  before(() => {
    // A Berth tree as `npm run build` leaves it, small.
    for (const d of ['bin', 'dist/cli', 'node_modules/pino', 'docs']) mkdirSync(path.join(source, d), { recursive: true });
    writeFileSync(path.join(source, 'bin', 'berth.js'), '#!/usr/bin/env node\n');
    writeFileSync(path.join(source, 'dist', 'cli', 'main.js'), '');
    writeFileSync(path.join(source, 'node_modules', 'pino', 'package.json'), '{}');
    writeFileSync(path.join(source, 'docs', 'operations.md'), '# Operating Berth\n');
    writeFileSync(path.join(source, 'package.json'), '{"name":"berth","version":"0.1.0"}');
    writeFileSync(tokenFile, 'BERTH-1-abc-secret\n', { mode: 0o600 });
  });
  beforeEach(() => {
    root = mkdtempSync(path.join(work, 'root-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const install = (...args: string[]) => run('bash', [SCRIPT, '--root', root, '--source', source, ...args]);
  const unit = (name: string) => readFileSync(path.join(root, 'etc/systemd/system', `${name}.service`), 'utf8');

  async function verifyUnit(name: string): Promise<void> {
    if (!(await hasSystemdAnalyze())) return;
    const r = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', path.join(root, 'etc/systemd/system', `${name}.service`)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', `systemd-analyze verify warned:\n${r.stderr}`);
  }

  it('server: Berth under /opt/berth, berth on the PATH, berth-server.service written and valid, nothing started', async () => {
    const r = await install('server', '--listen', '0.0.0.0:7070', '--node-labels', 'zone=a b');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /staging root .*: berth-server not enabled or started/);
    assert.ok(existsSync(path.join(root, 'opt/berth/dist/cli/main.js')));
    assert.ok(existsSync(path.join(root, 'opt/berth/node_modules/pino/package.json')));
    assert.equal(readlinkSync(path.join(root, 'usr/local/bin/berth')), '/opt/berth/bin/berth.js');
    assert.equal(statSync(path.join(root, 'var/lib/berth')).mode & 0o777, 0o700);
    const u = unit('berth-server');
    assert.match(u, /^ExecStart=\S+ \/opt\/berth\/bin\/berth\.js server "--data-dir" "\/var\/lib\/berth" "--listen" "0\.0\.0\.0:7070" "--node-labels" "zone=a b"$/m);
    for (const line of ['Restart=always', 'After=network-online.target docker.service', 'Wants=network-online.target docker.service', 'KillMode=mixed', 'LimitNOFILE=1048576', 'WantedBy=multi-user.target']) {
      assert.ok(u.split('\n').includes(line), `missing ${line}`);
    }
    await verifyUnit('berth-server');
  });

  it('agent: its own unit with KillMode=process, the join token copied 0600 and named by the unit', async () => {
    const r = await install('agent', '--server', '10.0.0.1:7071', '--token-file', tokenFile, '--name', 'node-1');
    assert.equal(r.code, 0, r.stderr);
    const u = unit('berth-agent');
    assert.match(u, /^ExecStart=\S+ \/opt\/berth\/bin\/berth\.js agent "--server" "10\.0\.0\.1:7071" "--name" "node-1" "--token-file" "\/etc\/berth\/join-token" "--data-dir" "\/var\/lib\/berth-agent"$/m);
    assert.ok(u.split('\n').includes('KillMode=process'));
    assert.ok(u.split('\n').includes('Restart=always'));
    const token = path.join(root, 'etc/berth/join-token');
    assert.equal(readFileSync(token, 'utf8'), 'BERTH-1-abc-secret\n');
    assert.equal(statSync(token).mode & 0o777, 0o600);
    assert.ok(!u.includes('BERTH-1-'), 'the token itself in the unit');
    await verifyUnit('berth-agent');
  });

  it('refuses an agent without --server or --token-file, writing nothing', async () => {
    const noServer = await install('agent', '--token-file', tokenFile);
    assert.equal(noServer.code, 1);
    assert.match(noServer.stderr, /agent needs --server HOST:PORT/);
    const noToken = await install('agent', '--server', '10.0.0.1:7071');
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /agent needs --token-file FILE/);
    const bad = await install('worker');
    assert.match(bad.stderr, /unknown mode "worker"/);
    assert.ok(!existsSync(path.join(root, 'opt')) && !existsSync(path.join(root, 'etc')), 'a refused install wrote files');
  });

  it('uninstall removes the units and files and keeps the data, unless --purge', async () => {
    assert.equal((await install('server')).code, 0);
    writeFileSync(path.join(root, 'var/lib/berth/ca.key'), 'kept');
    const u = await install('uninstall');
    assert.equal(u.code, 0, u.stderr);
    assert.ok(!existsSync(path.join(root, 'etc/systemd/system/berth-server.service')));
    assert.ok(!existsSync(path.join(root, 'opt/berth')));
    assert.ok(!existsSync(path.join(root, 'usr/local/bin/berth')));
    assert.equal(readFileSync(path.join(root, 'var/lib/berth/ca.key'), 'utf8'), 'kept');
    assert.equal((await install('uninstall', '--purge')).code, 0);
    assert.ok(!existsSync(path.join(root, 'var/lib/berth')));
  });
});
