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
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { berthArgv, childEnv, exitOf, keepLogTail, REPO_ROOT, startServer, stopChild, waitNodesReady, type TestAgent, type TestServer } from './berth.js';
import { sh, startBridgeNet, type NetNamespace } from './bridge-net.js';
import { BUSYBOX_IMAGE, ensureTestImages, PEER_IMAGE, testNodeName, WEB_IMAGE } from './docker.js';


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
  ns: NetNamespace;
  dir: string;
  dockerd?: ChildProcess;
  dockerdExited?: Promise<void>;
  agentDataDir: string;
}

export async function startTestHosts(opts: StartTestHostsOptions): Promise<TestHosts> {
  await ensureTestImages();
  const net = await startBridgeNet();
  const { bridge, gateway, prefix } = net;
  const x = prefix.split('.')[1]!;
  const range = `${prefix}.0.0/16`;
  const runName = testNodeName(opts.prefix ?? 'th');
  const parts: HostParts[] = [];
  const hosts: TestHost[] = [];
  let server: TestServer | undefined;

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
    }
    await net.stop();
  };

  try {
    const agentPort = await freePort();
    const serverArgs = (opts.serverArgs ?? []).map((a) => a.replaceAll('{range}', `10.${x}`));
    // Later flags win: the agent port listens on the bridge, where the hosts reach it.
    server = await startServer({ extraArgs: ['--agent-listen', `${gateway}:${agentPort}`, ...serverArgs] });
    const srv = server;

    for (const [i, key] of opts.hosts.entries()) {
      const ns = await net.addNamespace(i);
      const p: HostParts = {
        ns,
        dir: mkdtempSync(path.join(tmpdir(), `berth-host-${key}-`)),
        agentDataDir: mkdtempSync(path.join(tmpdir(), `berth-agent-${key}-`)),
      };
      parts.push(p);
      const dockerSocket = path.join(p.dir, 'docker.sock');
      const nodeName = `${runName}-${key}`;
      const inNs = ns.exec;
      const host: TestHost = {
        key,
        nodeName,
        netns: ns.netns,
        address: ns.address,
        dockerSocket,
        bip: `10.${x}.${100 + i}.0/24`,
        docker: (...args) => sh('docker', ['-H', `unix://${dockerSocket}`, ...args]),
        exec: inNs,
        agent: undefined,
        startAgent() {
          host.agent = startHostAgent(host, p, srv, `${gateway}:${agentPort}`, opts.agentArgs ?? []);
          return host.agent;
        },
        cut: ns.cut,
        restore: ns.restore,
      };
      hosts.push(host);
      await inNs('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);

      const dockerd = spawn(
        'nsenter',
        [
          `--net=/var/run/netns/${ns.netns}`,
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
        await sh('bash', ['-o', 'pipefail', '-c', `docker save ${BUSYBOX_IMAGE} ${WEB_IMAGE} ${PEER_IMAGE} | docker -H unix://${h.dockerSocket} load -q`]);
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
  const child = spawn('nsenter', p.ns.argv(process.execPath, args), {
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
