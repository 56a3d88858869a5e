// A private L2 for tests: one bridge on this machine (with an address of its own, the gateway)
// and network namespaces joined to it by veth pairs, each with its own address, as machines on one
// switch. Used by the test hosts (test-host.ts: a dockerd and an agent per namespace) and by the
// server partition tests (control-plane servers in namespaces). cut()/restore() take a
// namespace's link down and up: packets just stop, as on a real network failure.
//
// stop() never throws and removes what was made even after a failure half-way: every namespace
// and veth, the FORWARD rule and the bridge (the caller ends its own processes first).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function sh(cmd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export const ip = (...args: string[]) => sh('ip', args);

export interface NetNamespace {
  /** Namespace name; /var/run/netns/<netns>. */
  netns: string;
  /** The veth end on this machine (on the bridge). */
  hostIf: string;
  /** The namespace's own address on the bridge. */
  address: string;
  /** Runs `command ARGS` inside the namespace (nsenter --net); trimmed stdout. */
  exec: (command: string, args: readonly string[]) => Promise<string>;
  /** nsenter's argument list for a command run inside the namespace (nsenter execs it: the child's pid is the command's). */
  argv: (command: string, args: readonly string[]) => string[];
  cut: () => Promise<void>;
  restore: () => Promise<void>;
}

export interface BridgeNet {
  bridge: string;
  /** This machine's address on the bridge. */
  gateway: string;
  /** `10.X`: the /16 the run's addresses come from (bridge 10.X.0.0/24). */
  prefix: string;
  /** Adds namespace number `i` (address 10.X.0.(10+i)). */
  addNamespace(i: number): Promise<NetNamespace>;
  stop(): Promise<void>;
}

/** A 10.X.0.0/16 with no address or route of this machine in it yet (X in 160..223). */
async function freeRange(): Promise<number> {
  const used = `${await ip('-o', '-4', 'addr', 'show')}\n${await ip('-4', 'route', 'show')}`;
  for (let i = 0; i < 100; i++) {
    const x = 160 + ((randomBytes(1)[0] ?? 0) % 64);
    if (!used.includes(`10.${x}.`)) return x;
  }
  throw new Error('no free 10.X.0.0/16 (X in 160..223) for a test network');
}

export async function startBridgeNet(): Promise<BridgeNet> {
  const id = randomBytes(3).toString('hex');
  const x = await freeRange();
  const bridge = `bth${id}`;
  const gateway = `10.${x}.0.1`;
  const made: NetNamespace[] = [];
  let bridgeMade = false;
  let forwardAdded = false;
  const forwardRule = ['-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `berth test network ${bridge}`, '-j', 'ACCEPT'];
  const stop = async () => {
    for (const n of made) {
      await ip('link', 'del', n.hostIf).catch(() => undefined);
      await ip('netns', 'del', n.netns).catch(() => undefined);
    }
    if (forwardAdded) await sh('iptables', ['-D', 'FORWARD', ...forwardRule]).catch(() => undefined);
    if (bridgeMade) await ip('link', 'del', bridge).catch(() => undefined);
  };
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    bridgeMade = true;
    // With br_netfilter loaded, frames crossing the bridge go through this machine's FORWARD
    // chain, whose policy Docker sets to DROP: let the bridge's own traffic through (the bridge
    // is the wire between the namespaces, not a router). Removed by stop().
    await sh('iptables', ['-I', 'FORWARD', ...forwardRule]);
    forwardAdded = true;
    await ip('addr', 'add', `${gateway}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    bridge,
    gateway,
    prefix: `10.${x}`,
    async addNamespace(i) {
      const netns = `bth-${id}-${i}`;
      const hostIf = `bth${id}v${i}`;
      const address = `10.${x}.0.${10 + i}`;
      const argv = (command: string, args: readonly string[]) => [`--net=/var/run/netns/${netns}`, command, ...args];
      const n: NetNamespace = {
        netns,
        hostIf,
        address,
        exec: (command, args) => sh('nsenter', argv(command, args)),
        argv,
        cut: async () => void (await ip('link', 'set', hostIf, 'down')),
        restore: async () => void (await ip('link', 'set', hostIf, 'up')),
      };
      made.push(n);
      await ip('netns', 'add', netns);
      await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', hostIf, 'master', bridge);
      await ip('link', 'set', hostIf, 'up');
      await n.exec('ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await n.exec('ip', ['link', 'set', 'eth0', 'up']);
      await n.exec('ip', ['link', 'set', 'lo', 'up']);
      await n.exec('ip', ['route', 'add', 'default', 'via', gateway]);
      return n;
    },
    stop,
  };
}
