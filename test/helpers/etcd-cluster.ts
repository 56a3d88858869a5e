// A real etcd cluster of several members as processes on loopback ports (`--initial-cluster`),
// each with its own data dir, for tests that lose and restore a member. Every member is started
// under the parent-death signal, so a test that dies takes them down; stop() removes the dirs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, withParentDeathSignal } from '../../control-plane/etcd/embedded.js';
import { eventually } from './etcd.js';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** Whether its process runs. */
  readonly running: boolean;
  /** Starts it again on its data dir and ports (after kill). */
  start(): void;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Whether the member answers /health with true (it has a leader and serves). */
  healthy(): Promise<boolean>;
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** Names of the members as the cluster lists them (asked of a running member). */
  memberNames(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-etcd-cluster-'));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), peer: await freePort() })));
  const names = ports.map((_, i) => `m${i}`);
  const initialCluster = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const token = `berth-test-${Math.random().toString(36).slice(2, 8)}`;
  const members = ports.map((p, i): EtcdMember => {
    const name = names[i]!;
    const clientUrl = `http://127.0.0.1:${p.client}`;
    const peerUrl = `http://127.0.0.1:${p.peer}`;
    const dataDir = path.join(dir, name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    let child: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const args = [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--log-level', 'error',
      '--logger', 'zap',
    ];
    return {
      name,
      clientUrl,
      get running() {
        return child !== undefined && child.exitCode === null && child.signalCode === null;
      },
      start() {
        const [cmd, cmdArgs] = withParentDeathSignal('etcd', args);
        const c = spawn(cmd, cmdArgs, { stdio: 'ignore' });
        child = c;
        exited = new Promise((resolve) => c.once('exit', () => resolve()));
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
      async healthy() {
        try {
          const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
          return ((await res.json()) as { health?: string }).health === 'true';
        } catch {
          return false;
        }
      },
    };
  });
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async memberNames() {
      for (const m of members) {
        if (!m.running) continue;
        try {
          const res = await fetch(`${m.clientUrl}/v3/cluster/member/list`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
          const body = (await res.json()) as { members?: { name?: string }[] };
          return (body.members ?? []).map((x) => x.name ?? '').sort();
        } catch {
          // try the next member
        }
      }
      throw new Error('no member answered the member list');
    },
    async stop() {
      await Promise.all(members.map((m) => m.kill('SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const m of members) m.start();
  try {
    await eventually(async () => (await Promise.all(members.map((m) => m.healthy()))).every(Boolean), 30_000, `${size} healthy etcd members`);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
