// Test hosts: machines made of a network namespace, as separate as this machine allows. N hosts
// share one bridge (their L2), each host is a namespace with its own address on it, its own
// dockerd (own data and exec roots, socket, pidfile and docker0 subnet; started with nsenter
// --net, since `ip netns exec` remounts /sys and dockerd then fails), the test images loaded from
// this machine's engine, and a `berth agent` inside the namespace talking to that engine and to a
// `berth server` on this machine through the bridge. Traffic between two hosts' containers
// crosses the hosts' own addresses, as between real machines.
//
// startTestHosts returns once every node is ready, or removes what it made and throws. stop()
// never throws and removes everything even after a failure half-way: agents, server, every
// container of every host's engine, each dockerd (ended by its pid; its containerd too if it
// stays), mounts left under the hosts' dirs, the dirs, the namespaces, the veths and the bridge.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { berthArgv, childEnv, exitOf, keepLogTail, REPO_ROOT, startServer, stopChild, waitNodesReady, type TestAgent, type TestServer } from './berth.js';
import { BUSYBOX_IMAGE, ensureTestImages, testNodeName, WEB_IMAGE } from './docker.js';

const run = promisify(execFile);

async function sh(cmd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

const ip = (...args: string[]) => sh('ip', args);

export interface TestHost {
  /** Suffix given in the options (`a`, `b`, ...). */
  key: string;
  /** The node name its agent registers (`<prefix>-<hex>-<key>`). */
  nodeName: string;
  /** Namespace name; /var/run/netns/<netns>. */
  netns: string;
  /** The host's own address on the bridge. */
  address: string;
  /** The host's dockerd socket path. */
  dockerSocket: string;
  /** Subnet of the host's docker0 (--bip). */
  bip: string;
  /** The docker CLI against this host's engine; trimmed stdout. */
  docker(...args: string[]): Promise<string>;
  /** Runs `command ARGS` inside the host's namespace (nsenter --net); trimmed stdout. */
  exec(command: string, args: readonly string[]): Promise<string>;
  agent: TestAgent | undefined;
  /** Starts the host's agent again (after stop), on the same data dir. */
  startAgent(): TestAgent;
  /** Takes the host's link to the bridge down: the host and its containers are cut off (no RST, packets just stop). */
  cut(): Promise<void>;
  restore(): Promise<void>;
}

export interface TestHosts {
  /** The bridge's name (on this machine). */
  bridge: string;
  /** This machine's address on the bridge: where the server's agent port listens. */
  gateway: string;
  /** The /16 the run's addresses come from (`10.X.0.0/16`): bridge /24, docker0s, node subnets. */
  range: string;
  server: TestServer;
  hosts: TestHost[];
  /** Node name -> node id, once all were ready. */
  nodeIds: Map<string, string>;
  host(key: string): TestHost;
  stop(): Promise<void>;
}

export interface StartTestHostsOptions {
  /** One host per key; node names end in `-<key>`. */
  hosts: readonly string[];
  prefix?: string;
  /** Extra `berth server` arguments; `{range}` in one is replaced by the run's `10.X` prefix. */
  serverArgs?: string[];
  /** Extra `berth agent` arguments. */
  agentArgs?: string[];
  readyTimeoutMs?: number;
}

interface HostParts {
  netns: string;
  hostIf: string;
  dir: string;
  dockerd?: ChildProcess;
  dockerdExited?: Promise<void>;
  agentDataDir: string;
}

/** A 10.X.0.0/16 with no address or route of this machine in it yet (X in 160..223). */
async function freeRange(): Promise<number> {
  const used = `${await ip('-o', '-4', 'addr', 'show')}\n${await ip('-4', 'route', 'show')}`;
  for (let i = 0; i < 100; i++) {
    const x = 160 + ((randomBytes(1)[0] ?? 0) % 64);
    if (!used.includes(`10.${x}.`)) return x;
  }
  throw new Error('no free 10.X.0.0/16 (X in 160..223) for test hosts');
}

export async function startTestHosts(opts: StartTestHostsOptions): Promise<TestHosts> {
  await ensureTestImages();
  const id = randomBytes(3).toString('hex');
  const x = await freeRange();
  const range = `10.${x}.0.0/16`;
  const bridge = `bth${id}`;
  const gateway = `10.${x}.0.1`;
  const runName = testNodeName(opts.prefix ?? 'th');
  const parts: HostParts[] = [];
  const hosts: TestHost[] = [];
  let server: TestServer | undefined;
  let bridgeMade = false;
  let forwardAdded = false;
  const forwardRule = ['-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `berth test hosts ${bridge}`, '-j', 'ACCEPT'];

  const stop = async () => {
    for (const h of hosts) await h.agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    for (const [i, p] of parts.entries()) {
      const h = hosts[i];
      if (h && p.dockerd) {
        const ids = await h.docker('ps', '-aq').catch(() => '');
        if (ids) await h.docker('rm', '-f', '-v', ...ids.split('\n')).catch(() => undefined);
      }
      await stopDockerd(p);
      await unmountUnder(p.dir);
      rmSync(p.dir, { recursive: true, force: true });
      rmSync(p.agentDataDir, { recursive: true, force: true });
      await ip('link', 'del', p.hostIf).catch(() => undefined);
      await ip('netns', 'del', p.netns).catch(() => undefined);
    }
    if (forwardAdded) await sh('iptables', ['-D', 'FORWARD', ...forwardRule]).catch(() => undefined);
    if (bridgeMade) await ip('link', 'del', bridge).catch(() => undefined);
  };

  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    bridgeMade = true;
    // With br_netfilter loaded, frames crossing the bridge go through this machine's FORWARD
    // chain, whose policy Docker sets to DROP: let the bridge's own traffic through (the bridge
    // is the wire between the hosts, not a router). Removed by stop().
    await sh('iptables', ['-I', 'FORWARD', ...forwardRule]);
    forwardAdded = true;
    await ip('addr', 'add', `${gateway}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');

    const agentPort = await freePort();
    const serverArgs = (opts.serverArgs ?? []).map((a) => a.replaceAll('{range}', `10.${x}`));
    // Later flags win: the agent port listens on the bridge, where the hosts reach it.
    server = await startServer({ extraArgs: ['--agent-listen', `${gateway}:${agentPort}`, ...serverArgs] });
    const srv = server;

    for (const [i, key] of opts.hosts.entries()) {
      const p: HostParts = {
        netns: `bth-${id}-${i}`,
        hostIf: `bth${id}v${i}`,
        dir: mkdtempSync(path.join(tmpdir(), `berth-host-${key}-`)),
        agentDataDir: mkdtempSync(path.join(tmpdir(), `berth-agent-${key}-`)),
      };
      parts.push(p);
      const address = `10.${x}.0.${10 + i}`;
      const dockerSocket = path.join(p.dir, 'docker.sock');
      const nodeName = `${runName}-${key}`;
      const inNs = (command: string, args: readonly string[]) => sh('nsenter', [`--net=/var/run/netns/${p.netns}`, command, ...args]);
      const host: TestHost = {
        key,
        nodeName,
        netns: p.netns,
        address,
        dockerSocket,
        bip: `10.${x}.${100 + i}.0/24`,
        docker: (...args) => sh('docker', ['-H', `unix://${dockerSocket}`, ...args]),
        exec: inNs,
        agent: undefined,
        startAgent() {
          host.agent = startHostAgent(host, p, srv, `${gateway}:${agentPort}`, opts.agentArgs ?? []);
          return host.agent;
        },
        cut: async () => void (await ip('link', 'set', p.hostIf, 'down')),
        restore: async () => void (await ip('link', 'set', p.hostIf, 'up')),
      };
      hosts.push(host);

      await ip('netns', 'add', p.netns);
      await ip('link', 'add', p.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.netns);
      await ip('link', 'set', p.hostIf, 'master', bridge);
      await ip('link', 'set', p.hostIf, 'up');
      await inNs('ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await inNs('ip', ['link', 'set', 'eth0', 'up']);
      await inNs('ip', ['link', 'set', 'lo', 'up']);
      await inNs('ip', ['route', 'add', 'default', 'via', gateway]);
      await inNs('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

      const dockerd = spawn(
        'nsenter',
        [
          `--net=/var/run/netns/${p.netns}`,
          'dockerd',
          '--data-root', path.join(p.dir, 'data'),
          '--exec-root', path.join(p.dir, 'exec'),
          '-H', `unix://${dockerSocket}`,
          '--pidfile', path.join(p.dir, 'dockerd.pid'),
          '--bip', `10.${x}.${100 + i}.1/24`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      p.dockerd = dockerd;
      keepLogTail(dockerd, 20);
      p.dockerdExited = exitOf(dockerd).then(() => undefined);
    }

    // The engines start together; each gets the images once it answers.
    await Promise.all(
      hosts.map(async (h) => {
        const deadline = Date.now() + 60_000;
        while ((await h.docker('version', '--format', '{{.Server.Version}}').catch(() => '')) === '') {
          if (Date.now() > deadline) throw new Error(`the dockerd of test host ${h.key} did not answer on ${h.dockerSocket}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        await sh('bash', ['-o', 'pipefail', '-c', `docker save ${BUSYBOX_IMAGE} ${WEB_IMAGE} | docker -H unix://${h.dockerSocket} load -q`]);
      }),
    );

    for (const h of hosts) h.startAgent();
    const nodeIds = await waitNodesReady(srv, hosts.map((h) => h.agent!), opts.readyTimeoutMs ?? 90_000);
    return {
      bridge,
      gateway,
      range,
      server: srv,
      hosts,
      nodeIds,
      host(key) {
        const h = hosts.find((c) => c.key === key);
        if (!h) throw new Error(`no test host ${key}`);
        return h;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function startHostAgent(host: TestHost, p: HostParts, server: TestServer, serverAddress: string, extra: readonly string[]): TestAgent {
  const args = berthArgv([
    'agent',
    '--server', serverAddress,
    '--token-file', path.join(server.dataDir, 'join-token'),
    '--name', host.nodeName,
    '--runtime', 'docker',
    '--docker-host', `unix://${host.dockerSocket}`,
    '--data-dir', p.agentDataDir,
    '--cpu', '2',
    '--memory', '2Gi',
    ...extra,
  ]);
  // nsenter without --fork execs the command: the child's pid is the agent's.
  const child = spawn('nsenter', [`--net=/var/run/netns/${p.netns}`, process.execPath, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logTail = keepLogTail(child, 60);
  const exit = exitOf(child);
  const exited = exit.then(() => undefined);
  return {
    name: host.nodeName,
    dataDir: p.agentDataDir,
    pid: child.pid ?? -1,
    exit,
    logTail,
    async stop(stopOpts = {}) {
      await stopChild(child, exited, stopOpts.signal ?? 'SIGTERM');
    },
  };
}

/** SIGTERM to the dockerd we started (by its pid), SIGKILL after 20 s; then its containerd if it stayed. */
async function stopDockerd(p: HostParts): Promise<void> {
  const d = p.dockerd;
  if (!d || !p.dockerdExited) return;
  if (d.exitCode === null && d.signalCode === null) {
    d.kill('SIGTERM');
    const timer = setTimeout(() => d.kill('SIGKILL'), 20_000);
    await p.dockerdExited;
    clearTimeout(timer);
  }
  const containerdPid = path.join(p.dir, 'exec', 'containerd', 'containerd.pid');
  if (existsSync(containerdPid)) {
    const pid = Number(readFileSync(containerdPid, 'utf8').trim());
    if (pid > 1 && isCommand(pid, 'containerd')) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

function isCommand(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
  } catch {
    return false;
  }
}

/** Unmounts (lazily) every mount below `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await sh('umount', ['-l', m]).catch(() => undefined);
}
