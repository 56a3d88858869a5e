// `berth server` as a process: a clean stop on SIGTERM and SIGINT (exit 0), a failed start
// (exit 1, one line on stderr), and in every case no embedded etcd left behind, even when the
// server itself is SIGKILLed. With --etcd it uses that etcd and starts none of its own.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Service } from '../../common/types.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { keys } from '../../control-plane/store/keys.js';
import { eventually, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runBerth, spawnBerth, startServer, type BerthDaemon, type TestServer } from '../helpers/berth.js';

interface ProcInfo {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  startTime: string;
}

/** /proc/PID/stat, or undefined once the process is gone. */
function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split at the last ')'.
  const close = stat.lastIndexOf(')');
  const rest = stat.slice(close + 2).split(' ');
  return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), state: rest[0] ?? '', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** Live etcd processes whose parent is `ppid`. */
function etcdChildrenOf(ppid: number): ProcInfo[] {
  return allPids()
    .map(procInfo)
    .filter((p): p is ProcInfo => !!p && p.ppid === ppid && p.comm === 'etcd' && p.state !== 'Z');
}

/** Live etcd processes whose --data-dir lies under `dir`, whoever their parent is. */
function etcdsUsing(dir: string): number[] {
  return allPids().filter((pid) => {
    const p = procInfo(pid);
    if (!p || p.comm !== 'etcd' || p.state === 'Z') return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith(dir));
    } catch {
      return false;
    }
  });
}

/** True while the very process seen in `seen` still runs (a zombie has exited; a reused pid is another process). */
function stillRuns(seen: ProcInfo): boolean {
  const now = procInfo(seen.pid);
  return !!now && now.startTime === seen.startTime && now.state !== 'Z';
}

/** The server's embedded etcd, once it runs (setpriv has exec'd into it). */
async function embeddedEtcdOf(server: { pid: number }): Promise<ProcInfo> {
  const found = await eventually(() => {
    const kids = etcdChildrenOf(server.pid);
    return kids.length === 1 ? kids[0] : undefined;
  }, 30_000, `the etcd child of server pid ${server.pid}`);
  if (!found) throw new Error('unreachable');
  return found;
}

/** stderr without the JSON log lines: what a person reads. */
function humanLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
}

/** Pids the server logged for its embedded etcd (`starting embedded etcd`). */
function loggedEtcdPids(stderr: string): number[] {
  const pids: number[] = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { msg?: string; pid?: number; component?: string };
      if (rec.msg === 'starting embedded etcd' && rec.pid) pids.push(rec.pid);
    } catch {
      // a partial line
    }
  }
  return pids;
}

describe('e2e: berth server life cycle', function () {
  this.timeout(120_000);
  const servers: TestServer[] = [];
  const daemons: BerthDaemon[] = [];
  const dirs: string[] = [];
  const tmp = (prefix: string) => {
    const d = mkdtempSync(path.join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop('SIGKILL').catch(() => undefined);
    for (const d of daemons.splice(0)) await d.stop('SIGKILL').catch(() => undefined);
    for (const d of dirs.splice(0)) {
      // An etcd a failed test left behind would hold the dir: end it by its pid first.
      for (const pid of etcdsUsing(d)) process.kill(pid, 'SIGKILL');
      rmSync(d, { recursive: true, force: true });
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 0 and its embedded etcd is gone`, async () => {
      const server = await startServer();
      servers.push(server);
      const etcd = await embeddedEtcdOf(server);
      const dataDir = server.dataDir;
      await server.stop(signal);
      assert.deepEqual(await server.exit, { code: 0, signal: null }, server.logTail());
      assert.equal(stillRuns(etcd), false, `etcd pid ${etcd.pid} exited with the server`);
      assert.deepEqual(etcdsUsing(dataDir), []);
    });
  }

  it('SIGKILL: the embedded etcd exits too (parent-death signal)', async () => {
    const server = await startServer();
    servers.push(server);
    const etcd = await embeddedEtcdOf(server);
    await server.stop('SIGKILL');
    assert.deepEqual(await server.exit, { code: null, signal: 'SIGKILL' });
    await eventually(() => !stillRuns(etcd), 30_000, `etcd pid ${etcd.pid} to exit after its server was killed`);
  });

  it('a start that fails after etcd is up (API port taken): exit 1, one line on stderr, no etcd left', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    try {
      const addr = blocker.address() as net.AddressInfo;
      const dataDir = tmp('berth-server-fail-');
      const agentPort = await freePort();
      const d = spawnBerth(
        ['server', '--no-agent', '--data-dir', dataDir, '--listen', `127.0.0.1:${addr.port}`, '--agent-listen', `127.0.0.1:${agentPort}`],
        { env: { BERTH_LOG_LEVEL: 'info' } },
      );
      daemons.push(d);
      // Watch for the etcd child while the server starts, as a second witness to the log.
      const seen = new Map<number, ProcInfo>();
      let exited = false;
      void d.exit.then(() => (exited = true));
      while (!exited) {
        for (const p of etcdChildrenOf(d.pid)) seen.set(p.pid, p);
        await new Promise((r) => setTimeout(r, 20));
      }
      const { code } = await d.exit;
      assert.equal(code, 1, d.stderr());
      const lines = humanLines(d.stderr());
      assert.equal(lines.length, 1, `one line for people on stderr, got:\n${lines.join('\n')}`);
      assert.match(lines[0] ?? '', new RegExp(`^berth server: .*(127\\.0\\.0\\.1:${addr.port}|EADDRINUSE|in use)`));

      const logged = loggedEtcdPids(d.stderr());
      assert.equal(logged.length, 1, 'the embedded etcd was started before the failure');
      assert.ok(existsSync(path.join(dataDir, 'etcd')), 'etcd ran under the data dir');
      for (const pid of logged) {
        const p = seen.get(pid) ?? procInfo(pid);
        assert.ok(!p || !stillRuns(p), `etcd pid ${pid} is gone`);
      }
      assert.deepEqual(etcdsUsing(dataDir), [], 'no etcd on this data dir');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('etcd not on PATH: exit 1 and one line saying how to install it', async () => {
    const bin = tmp('berth-path-');
    symlinkSync(process.execPath, path.join(bin, 'node'));
    const dataDir = tmp('berth-server-noetcd-');
    const d = spawnBerth(
      ['server', '--no-agent', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--agent-listen', `127.0.0.1:${await freePort()}`],
      { env: { PATH: bin, BERTH_LOG_LEVEL: 'silent' } },
    );
    daemons.push(d);
    const { code } = await d.exit;
    assert.equal(code, 1, d.stderr());
    assert.equal(d.stdout(), '');
    const lines = d.stderr().trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got:\n${d.stderr()}`);
    assert.match(lines[0] ?? '', /^berth server: etcd .*not found on PATH.*install it with "apt-get install etcd-server".*--etcd/);
    assert.deepEqual(etcdsUsing(dataDir), []);
  });

  describe('with --etcd (an external etcd)', () => {
    let etcd: TestEtcd | undefined;
    before(async () => {
      etcd = await startTestEtcd();
    });
    after(async () => {
      await etcd?.stop();
    });

    it('starts no etcd of its own and keeps its data in that etcd under /berth/', async () => {
      const server = await startServer({ extraArgs: ['--etcd', etcd!.etcd.clientUrl] });
      servers.push(server);
      const applied = await runBerth(['apply', '-f', '-'], {
        config: server.configPath,
        input: 'apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  image: berth/busybox:latest\n  replicas: 1\n',
      });
      assert.equal(applied.code, 0, applied.stderr);

      assert.deepEqual(etcdChildrenOf(server.pid), [], 'no etcd child of the server');
      assert.equal(existsSync(path.join(server.dataDir, 'etcd')), false, 'no embedded etcd data dir');
      const store = etcd!.newStore('/berth/');
      const svc = await store.get<Service>(keys.service('ext'));
      assert.equal(svc?.spec.image, 'berth/busybox:latest');
      assert.ok((await store.count(keys.tasksOf('ext'))) >= 1, 'its tasks are there too');

      await server.stop('SIGTERM');
      assert.deepEqual(await server.exit, { code: 0, signal: null });
      assert.equal(await store.get<Service>(keys.service('ext')).then((s) => s?.metadata.name), 'ext', 'the external etcd keeps running with the data');
    });
  });
});
