// A network namespace joined to the host by a veth pair on a private /30, for partition tests:
// a process started inside it reaches the host only through the veth, so taking the host end
// down cuts it off as a real network failure would (no RST, packets just stop). The Docker
// socket is a unix socket on the shared filesystem, so a docker agent inside still works.
// Names are unique per call; remove() deletes the namespace and the veth and is safe to call
// twice or after a half-finished create (after hooks call it even when a test failed).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { berthArgv, childEnv, exitOf, keepLogTail, REPO_ROOT, stopChild, type TestAgent, type TestServer } from './berth.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args);
  return stdout.trim();
}

export interface Netns {
  /** Namespace name (`ip netns exec NAME ...`). */
  name: string;
  /** The host end of the veth (in the host namespace). */
  hostIf: string;
  /** The namespace end of the veth. */
  nsIf: string;
  /** Address of the host end: what a process inside the namespace connects to. */
  hostAddr: string;
  /** Address of the namespace end. */
  nsAddr: string;
  /** Spawns `command ARGS` inside the namespace; the child's pid is the command itself (ip execs it). */
  spawn(command: string, args: readonly string[], opts?: Parameters<typeof spawn>[2]): ChildProcess;
  /** Takes the host end down: nothing passes until restore(). */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Deletes the namespace and the veth; never throws. */
  remove(): Promise<void>;
}

/** A /30 in 10.200.0.0/13 not configured on any host interface yet. */
async function freeSubnet(): Promise<[string, string]> {
  const used = await ip('-o', '-4', 'addr', 'show');
  for (let i = 0; i < 50; i++) {
    const b = randomBytes(3);
    const second = 200 + ((b[0] ?? 0) % 8);
    const third = b[1] ?? 0;
    const fourth = (b[2] ?? 0) & 0xfc;
    const base = `10.${second}.${third}.`;
    const host = `${base}${fourth + 1}`;
    const ns = `${base}${fourth + 2}`;
    if (!used.includes(` ${host}/`) && !used.includes(` ${ns}/`)) return [host, ns];
  }
  throw new Error('no free /30 found in 10.200.0.0/13');
}

export async function createNetns(prefix = 'berth'): Promise<Netns> {
  const id = randomBytes(4).toString('hex');
  const name = `${prefix}-${id}`;
  // Interface names are at most 15 characters.
  const hostIf = `bvh${id}`;
  const nsIf = `bvn${id}`;
  const [hostAddr, nsAddr] = await freeSubnet();
  const ns: Netns = {
    name,
    hostIf,
    nsIf,
    hostAddr,
    nsAddr,
    spawn(command, args, opts = {}) {
      return spawn('ip', ['netns', 'exec', name, command, ...args], opts);
    },
    async cut() {
      await ip('link', 'set', hostIf, 'down');
    },
    async restore() {
      await ip('link', 'set', hostIf, 'up');
    },
    async remove() {
      // Deleting either end of a veth deletes both; the namespace may hold the other end.
      await ip('link', 'del', hostIf).catch(() => undefined);
      await ip('netns', 'del', name).catch(() => undefined);
    },
  };
  try {
    await ip('netns', 'add', name);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', name);
    await ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf);
    await ip('netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up');
    await ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    await ns.remove();
    throw err;
  }
  return ns;
}

/** True while the namespace exists (for tests of the cleanup itself). */
export async function netnsExists(name: string): Promise<boolean> {
  const list = await ip('netns', 'list');
  return list.split('\n').some((l) => l.split(' ')[0] === name);
}

export interface NetnsAgentOptions {
  name: string;
  /** `HOST:PORT` of the server's agent port as seen from inside (the host end's address). */
  serverAddress: string;
  fenceAfterSeconds?: number;
  cpu?: string;
  memory?: string;
}

/**
 * `berth agent --runtime docker` inside the namespace, joined to `server` through the veth.
 * stop() signals it by pid and removes its data dir; its containers are left (as startAgent's).
 */
export function startAgentInNetns(netns: Netns, server: TestServer, opts: NetnsAgentOptions): TestAgent {
  const dataDir = mkdtempSync(path.join(tmpdir(), `berth-agent-${opts.name}-`));
  const args = berthArgv([
    'agent',
    '--server', opts.serverAddress,
    '--token-file', path.join(server.dataDir, 'join-token'),
    '--name', opts.name,
    '--runtime', 'docker',
    '--data-dir', dataDir,
    '--cpu', opts.cpu ?? '2',
    '--memory', opts.memory ?? '2Gi',
    ...(opts.fenceAfterSeconds !== undefined ? ['--fence-after', String(opts.fenceAfterSeconds)] : []),
  ]);
  const child = netns.spawn(process.execPath, args, { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const logTail = keepLogTail(child, 60);
  const exit = exitOf(child);
  const exited = exit.then(() => undefined);
  return {
    name: opts.name,
    dataDir,
    pid: child.pid ?? -1,
    exit,
    logTail,
    async stop(stopOpts = {}) {
      await stopChild(child, exited, stopOpts.signal ?? 'SIGTERM');
      if (!stopOpts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
