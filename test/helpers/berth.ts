// Runs the real `berth` command line from source (node --import tsx cli/main.ts), so tests need
// no build: runBerth for client verbs, startServer for a `berth server` child process with its
// own embedded etcd, temp data dir and free ports, all removed by stop(); startAgent for a `berth
// agent` (process or docker runtime); spawnBerth for a daemon a test watches fail. For unit tests:
// runCli runs the CLI in-process against fakeFetch, which answers with the fixtures below.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { NodeView, ServiceView } from '../../cli/api-client.js';
import { main, type CliIo } from '../../cli/main.js';
import type { Task } from '../../common/types.js';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { apiFetch } from './api-fetch.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI_ENTRY = path.join(REPO_ROOT, 'cli', 'main.ts');

export interface BerthResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunBerthOptions {
  /** Added to (and overriding) the environment; BERTH_CONFIG from the outer shell is never inherited. */
  env?: Record<string, string | undefined>;
  /** Passed as `--config FILE`. */
  config?: string;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Default 60 s; the child is killed and the promise rejects after it. */
  timeoutMs?: number;
}

export function berthArgv(args: readonly string[]): string[] {
  return ['--import', 'tsx', CLI_ENTRY, ...args];
}

export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_CONFIG: undefined };
  for (const [k, v] of Object.entries(extra)) env[k] = v;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

export function runBerth(args: readonly string[], opts: RunBerthOptions = {}): Promise<BerthResult> {
  const argv = berthArgv(opts.config ? ['--config', opts.config, ...args] : args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: childEnv(opts.env), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 60_000} ms; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** Asserts a zero exit (the message carries stderr) and returns the result. */
export function ok(r: BerthResult): BerthResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r;
}

export interface TestServer {
  url: string;
  token: string;
  dataDir: string;
  /** The client config the server wrote (`<data-dir>/berth.yaml`). */
  configPath: string;
  /** fetch for this server's HTTPS API: it trusts the server's cluster CA (api-fetch.ts). */
  fetch: typeof fetch;
  agentPort: number;
  pid: number;
  /** Resolves when the server process has exited. */
  exit: Promise<ChildExit>;
  /** Last lines the server printed, for failure messages. */
  logTail(): string;
  /** The client URL of the server's embedded etcd (loopback), once it printed it. */
  etcdUrl?(): string | undefined;
  /** Signals the server (SIGTERM by default), waits for it to exit (SIGKILL after 15 s), removes the data dir unless `keepDataDir`. */
  stop(signal?: NodeJS.Signals, opts?: { keepDataDir?: boolean }): Promise<void>;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartServerOptions {
  /** Default true: no local agent, so tests need no Docker. */
  noAgent?: boolean;
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** Added to (and overriding) the server's environment. */
  env?: Record<string, string | undefined>;
  /**
   * A server of the same cluster (same etcd) whose admin and join tokens and cluster CA this one's
   * data dir starts with, as an operator copies them to a second server (docs/ha.md).
   */
  tokensFrom?: TestServer;
  /** Start on this data dir (a server started again) instead of a new one. */
  dataDir?: string;
  /** The API's and the agents' ports (a server brought back where it was); default free ones. */
  ports?: { api: number; agent: number };
  /**
   * Run inside this network namespace (test/helpers/bridge-net.ts), listening on its address
   * (API on 7070, agents on 7071, etcd peers on 7072): a server on a machine of its own.
   */
  namespace?: { address: string; argv(command: string, args: readonly string[]): string[] };
}

export async function startServer(opts: StartServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'berth-server-'));
  for (const f of opts.tokensFrom ? ['admin-token', 'join-token', 'ca.crt', 'ca.key', 'secrets.key'] : []) copyFileSync(path.join(opts.tokensFrom!.dataDir, f), path.join(dataDir, f));
  const ns = opts.namespace;
  // A namespace of its own has every port free.
  const host = ns?.address ?? '127.0.0.1';
  const apiPort = ns ? 7070 : (opts.ports?.api ?? (await freePort()));
  const agentPort = ns ? 7071 : (opts.ports?.agent ?? (await freePort()));
  const args = [
    'server',
    ...(opts.noAgent ?? true ? ['--no-agent'] : []),
    '--data-dir', dataDir,
    '--listen', `${host}:${apiPort}`,
    '--agent-listen', `${host}:${agentPort}`,
    ...(ns ? ['--advertise-addr', `${host}:${agentPort}`] : []),
    ...(opts.extraArgs ?? []),
  ];
  // nsenter execs the command: the child's pid is the server's.
  const [command, argv] = ns ? ['nsenter', ns.argv(process.execPath, berthArgv(args))] : [process.execPath, berthArgv(args)];
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
    env: childEnv({ BERTH_LOG_LEVEL: process.env.BERTH_LOG_LEVEL ?? 'info', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logTail = keepLogTail(child);
  let etcdUrl: string | undefined;
  const findEtcdUrl = (c: Buffer) => {
    etcdUrl ??= /"clientUrl":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(c.toString())?.[1];
    if (!etcdUrl) return;
    child.stdout?.off('data', findEtcdUrl);
    child.stderr?.off('data', findEtcdUrl);
  };
  child.stdout?.on('data', findEtcdUrl);
  child.stderr?.on('data', findEtcdUrl);
  const exit = exitOf(child);
  const exited = exit.then(() => undefined);
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', stopOpts: { keepDataDir?: boolean } = {}) => {
    await stopChild(child, exited, signal);
    if (!stopOpts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const url = `https://${host}:${apiPort}`;
  const configPath = path.join(dataDir, 'berth.yaml');
  try {
    const token = await waitReady(child, url, configPath, opts.startTimeoutMs ?? 60_000, logTail);
    return { url, token, dataDir, configPath, fetch: apiFetch(dataDir), agentPort, pid: child.pid ?? -1, exit, logTail, etcdUrl: () => etcdUrl, stop };
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}

/**
 * Drains the child's stdout and stderr (a full pipe would block its logging) and keeps their last
 * `lines` non-empty lines, for failure messages; returns the reader of that tail. With
 * BERTH_TEST_LOG_DIR set, the whole output is also written there, one file per process.
 */
export function keepLogTail(child: ChildProcess, lines = 40): () => string {
  const tail: string[] = [];
  const dir = process.env.BERTH_TEST_LOG_DIR;
  const file = dir ? path.join(dir, `berth-${child.pid ?? 'unknown'}.log`) : undefined;
  const keep = (c: Buffer) => {
    if (file) appendFileSync(file, c);
    for (const l of c.toString().split('\n')) if (l.trim()) tail.push(l);
    tail.splice(0, Math.max(0, tail.length - lines));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail.join('\n');
}

export function exitOf(child: ChildProcess): Promise<ChildExit> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export interface BerthDaemon {
  pid: number;
  exit: Promise<ChildExit>;
  stdout(): string;
  stderr(): string;
  /** Signals the process unless it has exited (SIGKILL after 15 s) and waits for its exit. */
  stop(signal?: NodeJS.Signals): Promise<ChildExit>;
}

/**
 * `berth ARGS` as a child process the test watches (for daemons that may fail to start): all of
 * stdout and stderr are kept. Removes nothing: the caller owns any dir it passed.
 */
export function spawnBerth(args: readonly string[], opts: { env?: Record<string, string | undefined>; execPath?: string } = {}): BerthDaemon {
  const child = spawn(opts.execPath ?? process.execPath, berthArgv(args), {
    cwd: REPO_ROOT,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = exitOf(child);
  return {
    pid: child.pid ?? -1,
    exit,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await stopChild(child, exit.then(() => undefined), signal);
      return exit;
    },
  };
}

async function waitReady(
  child: ChildProcess,
  url: string,
  configPath: string,
  timeoutMs: number,
  logTail: () => string,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`berth server exited (${child.exitCode ?? child.signalCode}) during start-up:\n${logTail()}`);
    }
    const token = readToken(configPath);
    if (token) {
      try {
        // The CA is in the data dir before berth.yaml is written.
        const res = await apiFetch(path.dirname(configPath))(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return token;
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`berth server not ready after ${timeoutMs} ms:\n${logTail()}`);
}

/** The token once the config file is complete (it may be caught half-written). */
function readToken(configPath: string): string | undefined {
  if (!existsSync(configPath)) return undefined;
  try {
    const cfg = parseYaml(readFileSync(configPath, 'utf8')) as { server?: string; token?: string } | null;
    return cfg?.server && cfg.token ? cfg.token : undefined;
  } catch {
    return undefined;
  }
}

export async function stopChild(child: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export interface TestAgent {
  name: string;
  dataDir: string;
  pid: number;
  /** Resolves when the agent process has exited. */
  exit: Promise<ChildExit>;
  logTail(): string;
  /**
   * SIGTERM (SIGKILL after 15 s), then kills any task process the agent left and removes the data
   * dir (with `keepDataDir`, neither: an agent started again on that dir adopts them). Containers of the docker runtime are left running, as the agent
   * leaves them: remove them with removeContainersOfNode (test/helpers/docker.ts).
   */
  stop(opts?: { signal?: NodeJS.Signals; keepDataDir?: boolean }): Promise<void>;
}

export interface StartAgentOptions {
  name: string;
  labels?: string;
  cpu?: string;
  memory?: string;
  /** Default `process` (no Docker). */
  runtime?: 'docker' | 'process';
  /** Reuse a data dir (an agent started again); default a new temp dir. */
  dataDir?: string;
  /** `HOST:PORT` to join instead of the server's agent port (e.g. a proxy in between). */
  serverAddress?: string;
  /** More `berth agent` flags. */
  extraArgs?: string[];
}

/**
 * A `berth agent` child process joined to `server`. With the process runtime (the default) its
 * tasks are plain host processes, each in its own process group recorded under the data dir;
 * with the docker runtime they are containers labelled `berth.node=<name>`.
 * Returns once spawned: wait for the node to show up before relying on it.
 */
export function startAgent(server: TestServer, opts: StartAgentOptions): TestAgent {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), `berth-agent-${opts.name}-`));
  const args = [
    'agent',
    '--server', opts.serverAddress ?? `127.0.0.1:${server.agentPort}`,
    '--token-file', path.join(server.dataDir, 'join-token'),
    '--name', opts.name,
    '--runtime', opts.runtime ?? 'process',
    '--data-dir', dataDir,
    '--cpu', opts.cpu ?? '2',
    '--memory', opts.memory ?? '2Gi',
    ...(opts.labels ? ['--labels', opts.labels] : []),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, berthArgv(args), { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const logTail = keepLogTail(child);
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
      if (stopOpts.keepDataDir) return; // a restarted agent adopts what it left
      killLeftoverTaskProcesses(path.join(dataDir, 'processes'));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The process driver records each task's wrapper pid (a process group leader) in a state file. */
function killLeftoverTaskProcesses(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    try {
      const { pid } = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { pid?: number };
      if (pid && pid > 1) process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone, or not a state file
    }
  }
}

// ---------- Unit-test fixtures: plain API objects and a fake fetch ----------

export const NOW = Date.parse('2026-01-10T12:00:00Z');
export const ago = (ms: number) => new Date(NOW - ms).toISOString();
const S = 1000;
const M = 60 * S;
const H = 60 * M;

export const webService: ServiceView = {
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'web', labels: { app: 'web' }, version: 7, createdAt: ago(3 * M) },
  spec: {
    image: 'berth/web:1',
    replicas: 6,
    ports: [{ containerPort: 8080 }, { containerPort: 9090, hostPort: 9090, protocol: 'udp' }],
    resources: { cpu: '250m', memory: '64Mi' },
    env: { MODE: 'prod' },
    placement: { constraints: ['node.labels.zone==a'] },
    restartPolicy: { condition: 'on-failure', delaySeconds: 5 },
  },
  status: { desired: 6, tasks: 6, running: 4 },
};

export const agentService: ServiceView = {
  apiVersion: 'berth/v1',
  kind: 'Service',
  metadata: { name: 'log-agent', createdAt: ago(2 * H) },
  spec: { image: 'berth/busybox', mode: 'global' },
  status: { desired: 2, tasks: 2, running: 2 },
};

export const node1: NodeView = {
  id: 'n-7f3a9c',
  name: 'node-1',
  labels: { zone: 'a', disk: 'ssd' },
  availability: 'active',
  status: { state: 'ready', timestamp: ago(4 * 24 * H), address: '10.0.0.1' },
  capacity: { cpu: 4000, memory: 8 * 1024 ** 3 },
  allocatable: { cpu: 3500, memory: 7 * 1024 ** 3 },
  runtime: 'docker',
  createdAt: ago(4 * 24 * H),
  tasks: 1,
};

export const runningTask: Task = {
  id: 'a1b2c3d4e5f6a7b8',
  name: 'web.1.a1b2c3',
  serviceName: 'web',
  slot: 1,
  serviceVersion: 7,
  spec: webService.spec,
  desiredState: 'running',
  nodeId: 'n-7f3a9c',
  status: {
    state: 'running',
    timestamp: ago(5 * S),
    containerId: '0123456789abcdef0123456789abcdef',
    hostPorts: [{ containerPort: 8080, hostPort: 32768, protocol: 'tcp' }],
  },
  createdAt: ago(5 * S),
};

export const pendingTask: Task = {
  id: 'ffeeddccbbaa0011',
  name: 'web.10.ffeedd',
  serviceName: 'web',
  slot: 10,
  serviceVersion: 7,
  spec: webService.spec,
  desiredState: 'running',
  status: { state: 'pending', timestamp: ago(2 * M), reason: 'Unschedulable', message: '0/0 nodes available: no nodes available' },
  createdAt: ago(2 * M),
};

export const failedTask: Task = {
  ...runningTask,
  id: '99887766',
  name: 'web.2.998877',
  slot: 2,
  desiredState: 'shutdown',
  status: { state: 'failed', timestamp: ago(M), exitCode: 3, lastOutput: 'booting\npanic: no config\n', message: 'exit code 3' },
};

export interface Recorded {
  method: string;
  path: string;
  auth: string | null;
  body?: unknown;
}

/** A fetch answering from a table of `METHOD /path` -> [status, body]; records every request. */
export function fakeFetch(routes: Record<string, [number, unknown]>, log: Recorded[] = []): typeof fetch {
  return ((input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    const headers = new Headers(init?.headers);
    log.push({
      method,
      path: url.pathname + url.search,
      auth: headers.get('authorization'),
      ...(init?.body ? { body: JSON.parse(init.body as string) as unknown } : {}),
    });
    const hit = routes[`${method} ${url.pathname}${url.search}`] ?? routes[`${method} ${url.pathname}`];
    const [status, body] = hit ?? [404, { error: 'NotFound', message: `no route ${method} ${url.pathname}` }];
    return Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }));
  }) as typeof fetch;
}

export const API_ROUTES: Record<string, [number, unknown]> = {
  'GET /v1/services': [200, { items: [webService, agentService] }],
  'GET /v1/services/web': [200, webService],
  'GET /v1/tasks': [200, { items: [pendingTask, runningTask] }],
  'GET /v1/tasks?service=web': [200, { items: [pendingTask, runningTask] }],
  'GET /v1/tasks/web.1.a1b2c3': [200, runningTask],
  'GET /v1/nodes': [200, { items: [node1] }],
  'GET /v1/nodes/node-1': [200, node1],
};

/** Runs `berth ARGS` in-process against a fake API; --server/--token are given unless configured otherwise. */
export async function runCli(
  args: string[],
  opts: { routes?: Record<string, [number, unknown]>; io?: Partial<CliIo>; log?: Recorded[]; flags?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const flags = opts.flags === false ? [] : ['--server', 'http://api.test:7070', '--token', 't0k'];
  const code = await main([...args, ...flags], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    homeDir: '/nonexistent-home',
    now: () => NOW,
    fetch: fakeFetch(opts.routes ?? API_ROUTES, opts.log),
    ...opts.io,
  });
  return { code, stdout, stderr };
}

// ---------- End-to-end helpers: the cluster as `berth` shows it ----------

/** `berth ARGS -o json` against `server`, parsed; throws with stderr on a non-zero exit. */
export async function berthJson<T>(server: TestServer, ...args: string[]): Promise<T> {
  const r = await runBerth([...args, '-o', 'json'], { config: server.configPath });
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A call to `s`'s API with its admin token: the JSON answer, or an error naming the path and status. */
export async function serverApi<T>(s: TestServer, p: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await s.fetch(`${s.url}${p}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${s.token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${p}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Every task, as `berth get tasks -o json` lists them. */
export async function listTasks(server: TestServer, ...filters: string[]): Promise<Task[]> {
  return (await berthJson<{ items: Task[] }>(server, 'get', 'tasks', ...filters)).items;
}

/** Every node, as `berth get nodes -o json` lists them. */
export async function listNodes(server: TestServer): Promise<NodeView[]> {
  return (await berthJson<{ items: NodeView[] }>(server, 'get', 'nodes')).items;
}

/** Polls until every named node is `ready`; returns name -> node id. */
export async function waitNodesReady(server: TestServer, agents: readonly TestAgent[], timeoutMs = 60_000): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = await listNodes(server).catch(() => [] as NodeView[]);
    const ready = new Map(nodes.filter((n) => n.status.state === 'ready').map((n) => [n.name, n.id]));
    if (agents.every((a) => ready.has(a.name))) return ready;
    if (Date.now() > deadline) {
      const missing = agents.filter((a) => !ready.has(a.name));
      throw new Error(`nodes not ready after ${timeoutMs} ms: ${missing.map((a) => `${a.name}; agent said:\n${a.logTail()}`).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
