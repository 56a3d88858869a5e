// The benchmark's processes: etcd, `berth server`, hollow-node runners and a docker agent, each a
// separate child process tracked by pid. Every one is registered in `children` and stopped by
// stopAll(), which run.ts calls at the end, on failure and on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { ApiSample } from './api-load.js';
import { EmbeddedEtcd, freePort } from '../../control-plane/etcd/embedded.js';
import { apiFetch } from '../helpers/api-fetch.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const quiet = pino({ level: 'silent' });

interface Tracked {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

const children = new Set<Tracked>();
const tempDirs = new Set<string>();

export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Stops every process still running (newest first), by pid, then removes the temp dirs. */
export async function stopAll(): Promise<void> {
  for (const c of [...children].reverse()) {
    await c.stop().catch(() => undefined);
    children.delete(c);
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function track(t: Tracked): Tracked {
  children.add(t);
  return t;
}

export interface Child {
  pid: number;
  proc: ChildProcess;
  exited: Promise<void>;
  /** Last lines of stdout+stderr. */
  tail(): string;
  /** SIGTERM, SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
}

function spawnTracked(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, onLine?: (l: string) => void, cwd = REPO_ROOT): Child {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, BERTH_CONFIG: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  const logDir = process.env.BERTH_BENCH_LOG_DIR;
  const keep = (c: Buffer) => {
    if (logDir) appendFileSync(path.join(logDir, `${name}-${proc.pid ?? 'unknown'}.log`), c);
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      if (!l.trim()) continue;
      lines.push(l);
      onLine?.(l);
    }
    lines.splice(0, Math.max(0, lines.length - 30));
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const pid = proc.pid ?? -1;
  const stop = async (graceMs = 20_000) => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }
  };
  const c: Child = { pid, proc, exited, tail: () => lines.join('\n'), stop };
  const tracked = track({ name, pid, stop: () => stop() });
  void exited.then(() => children.delete(tracked));
  return c;
}

export interface BenchEtcd {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The etcd binary as its own process on free loopback ports with a temp data dir. */
export async function startEtcd(): Promise<BenchEtcd> {
  const dataDir = tempDir('berth-bench-etcd-');
  const etcd = await EmbeddedEtcd.start({ dataDir, logger: quiet });
  const stop = async () => {
    await etcd.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  track({ name: 'etcd', pid: etcd.pid ?? -1, stop });
  return { url: etcd.clientUrl, pid: etcd.pid ?? -1, stop };
}

export interface BenchServer {
  apiUrl: string;
  agentAddress: string;
  token: string;
  joinTokenFile: string;
  dataDir: string;
  /** fetch for the server's HTTPS API (it trusts the server's cluster CA). */
  fetch: typeof fetch;
  child: Child;
}

export interface ServerStartOptions {
  etcdUrl: string;
  /** Run the compiled dist/ instead of the sources through tsx. */
  dist?: boolean;
  /** Write a V8 CPU profile of the server into this dir when it exits. */
  cpuProfDir?: string;
  /** The tree whose server runs (default this one): another checkout, to compare in one run. */
  root?: string;
  /** `--name` (servers sharing one etcd need each their own). */
  name?: string;
  /** A server of the same cluster whose CA and tokens this one starts with (docs/ha.md). */
  tokensFrom?: BenchServer;
}

/** `berth server --no-agent --etcd URL` as its own process; resolves once /healthz answers. */
export async function startServer(opts: ServerStartOptions): Promise<BenchServer> {
  const dataDir = tempDir('berth-bench-server-');
  for (const f of opts.tokensFrom ? ['admin-token', 'join-token', 'ca.crt', 'ca.key'] : []) copyFileSync(path.join(opts.tokensFrom!.dataDir, f), path.join(dataDir, f));
  const apiPort = await freePort();
  const agentPort = await freePort();
  const root = opts.root ?? REPO_ROOT;
  const entry = opts.dist ? [path.join(root, 'dist', 'cli', 'main.js')] : ['--import', 'tsx', path.join(root, 'cli', 'main.ts')];
  if (opts.dist && !existsSync(entry[0]!)) throw new Error('dist/cli/main.js not found: run npm run build first');
  const prof = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  // Node/V8 flags for the server alone, to try a setting without changing the code.
  const flags = (process.env.BERTH_BENCH_SERVER_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const args = [
    ...flags,
    ...prof,
    ...entry,
    'server', '--no-agent',
    '--etcd', opts.etcdUrl,
    '--data-dir', dataDir,
    '--listen', `127.0.0.1:${apiPort}`,
    '--agent-listen', `127.0.0.1:${agentPort}`,
    ...(opts.name ? ['--name', opts.name] : []),
  ];
  const child = spawnTracked('server', process.execPath, args, { BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? 'warn' }, undefined, root);
  const configPath = path.join(dataDir, 'berth.yaml');
  // The URL the server wrote: https (its cluster CA), or http for a tree from before TLS that
  // --compare-tree runs side by side.
  let apiUrl = `https://127.0.0.1:${apiPort}`;
  let apiFetchFn = apiFetch(dataDir);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`berth server exited during start-up:\n${child.tail()}`);
    if (Date.now() > deadline) throw new Error(`berth server not ready after 60 s:\n${child.tail()}`);
    const config = existsSync(configPath) ? readFileSync(configPath, 'utf8') : '';
    const token = /token:\s*(\S+)/.exec(config)?.[1];
    if (token && /server:\s*http:\/\//.test(config)) {
      apiUrl = `http://127.0.0.1:${apiPort}`;
      apiFetchFn = fetch;
    }
    if (token) {
      const ok = await apiFetchFn(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) {
        return { apiUrl, agentAddress: `127.0.0.1:${agentPort}`, token, joinTokenFile: path.join(dataDir, 'join-token'), dataDir, fetch: apiFetchFn, child };
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A hollow-node runner (agent/hollow.ts) for nodes [firstIndex, firstIndex + count). `nice`: run
 * it at that lower CPU priority (1-19). Hollow nodes stand for machines of their own; niced,
 * their work still runs on the shared cores but no longer delays the control plane's and etcd's.
 */
export async function startHollow(server: BenchServer, count: number, firstIndex: number, nice = 0, root = REPO_ROOT): Promise<Child> {
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  const child = spawnTracked(
    `hollow-${firstIndex}`,
    nice ? 'nice' : process.execPath,
    [
      ...(nice ? ['-n', String(nice), process.execPath] : []),
      '--max-old-space-size=4096',
      ...(process.env.BERTH_BENCH_HOLLOW_FLAGS ?? '').split(/\s+/).filter(Boolean),
      '--import', 'tsx', path.join(root, 'agent', 'hollow.ts'),
      '--server', server.agentAddress,
      '--token-file', server.joinTokenFile,
      '--count', String(count),
      '--first-index', String(firstIndex),
    ],
    { BERTH_LOG_LEVEL: process.env.BERTH_BENCH_HOLLOW_LOG_LEVEL ?? 'error' },
    (l) => {
      if (l.includes('"event":"started"')) started();
    },
    root,
  );
  await Promise.race([
    ready,
    child.exited.then(() => {
      throw new Error(`hollow runner exited during start-up:\n${child.tail()}`);
    }),
  ]);
  return child;
}

/**
 * The open-loop API client (api-load.ts) as its own process; stop() returns its samples. With
 * several servers (one cluster: one CA, one admin token) its calls go to each in turn.
 */
export async function startApiLoad(servers: BenchServer | readonly BenchServer[], etcdUrl: string): Promise<{ stop(): Promise<ApiSample[]> }> {
  const all = Array.isArray(servers) ? (servers as readonly BenchServer[]) : [servers as BenchServer];
  const server = all[0]!;
  let started!: () => void;
  const ready = new Promise<void>((r) => (started = r));
  let samples: ApiSample[] | undefined;
  const child = spawnTracked(
    'api-load',
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'bench', 'api-load.ts'), '--url', all.map((x) => x.apiUrl).join(','), '--token-file', path.join(server.dataDir, 'admin-token'), ...(server.apiUrl.startsWith('https:') ? ['--ca-file', path.join(server.dataDir, 'ca.crt')] : []), '--etcd', etcdUrl],
    {},
    (l) => {
      if (l.includes('"event":"started"')) started();
      else if (l.startsWith('{"samples"')) samples = (JSON.parse(l) as { samples: ApiSample[] }).samples;
    },
  );
  await Promise.race([
    ready,
    child.exited.then(() => {
      throw new Error(`API load exited during start-up:\n${child.tail()}`);
    }),
  ]);
  return {
    stop: async () => {
      await child.stop(120_000);
      if (!samples) throw new Error(`API load gave no samples:\n${child.tail()}`);
      return samples;
    },
  };
}

/** `berth agent --runtime docker` (one real node) as its own process. */
export function startDockerAgent(server: BenchServer, nodeName: string): Child {
  const dataDir = tempDir('berth-bench-agent-');
  return spawnTracked('docker-agent', process.execPath, [
    '--import', 'tsx', path.join(REPO_ROOT, 'cli', 'main.ts'),
    'agent',
    '--server', server.agentAddress,
    '--token-file', server.joinTokenFile,
    '--name', nodeName,
    '--runtime', 'docker',
    '--data-dir', dataDir,
  ], { BERTH_LOG_LEVEL: 'warn' });
}
