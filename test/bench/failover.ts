// `npm run bench:failover`: how long the crash of the leading server interrupts the control
// plane, on this machine.
//
// Three `berth server`s share a 3-member etcd (processes, test/helpers/etcd-cluster.ts); three
// agents (process runtime: their tasks are host processes, nothing is pulled) join through a TCP
// load balancer in front of the servers' dispatchers (as docs/ha.md advises), so an agent whose
// server died joins another. A service runs on them. Each round, from a steady state (three
// servers, every node's session held by a live server, every replica running):
//   t0: SIGKILL of the leader; at once a scale of the service up by one through a follower's API,
//       and a SIGKILL of one task's process (one whose agent is on a follower where there is one);
//   (a) new leader: t0 to the `leader` key written by another server (etcd watch);
//   (b) first decision: t0 to the first new task placed (its node set; the scale's or the
//       replacement's, whichever the new leader's controllers write first);
//   (c) killed task back: t0 to the killed task's replacement reported `running` in etcd;
// then the killed server is started again (same name) for the next round. Prints one JSON line
// with every round and the median and p95 of each beside the lease TTL, and a table. Every
// process is stopped by its pid at the end, on failure and on Ctrl-C.
//
//   npm run bench:failover [-- --rounds 10 --lease 2 --replicas 3 --timeout 30]
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { errorMessage } from '../../common/errors.js';
import { sleep } from '../../common/sleep.js';
import type { Node, Task } from '../../common/types.js';
import { keys, serverKeys } from '../../control-plane/store/keys.js';
import { Store, type WatchEvent } from '../../control-plane/store/store.js';
import { runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { alignedTable } from './table.js';
import { startTcpBalancer, type TcpBalancer } from './tcp-balancer.js';
import { cleanUpOnSignal } from './bench-kit.js';

const SERVICE = 'failover';

export interface Stats {
  medianMs: number;
  p95Ms: number;
}

export interface FailoverRound {
  killed: string;
  newLeader: string;
  /** t0 to the leader key written by another server. */
  newLeaderMs: number;
  /** t0 to the first new task with a node. */
  firstPlacementMs: number;
  /** t0 to the killed task's replacement running (in etcd). */
  killedTaskRunningMs: number;
  /** Whether the killed task's agent had its session on the killed server (it had to join another first). */
  victimAgentOnKilledServer: boolean;
  /** Whether its replacement was placed on such a node (started once that agent joined another server). */
  replacementAgentOnKilledServer: boolean;
}

export interface FailoverResult {
  bench: 'failover';
  machine: { cpus: number; loadAverage1mStart: number; loadAverage1mEnd: number };
  leaseMs: number;
  rounds: number;
  newLeader: Stats;
  firstPlacement: Stats;
  killedTaskRunning: Stats;
  samples: FailoverRound[];
}

export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  const p95 = s[Math.min(s.length - 1, Math.max(0, Math.ceil(0.95 * s.length) - 1))] ?? NaN;
  return { medianMs: median, p95Ms: p95 };
}

export function formatFailoverTable(r: FailoverResult): string {
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  return alignedTable(
    ['rounds', 'lease s', 'load', 'new leader p50 s', 'p95 s', 'first placement p50 s', 'p95 s', 'killed task running p50 s', 'p95 s'],
    [[
      String(r.rounds),
      sec(r.leaseMs),
      r.machine.loadAverage1mStart.toFixed(2),
      sec(r.newLeader.medianMs),
      sec(r.newLeader.p95Ms),
      sec(r.firstPlacement.medianMs),
      sec(r.firstPlacement.p95Ms),
      sec(r.killedTaskRunning.medianMs),
      sec(r.killedTaskRunning.p95Ms),
    ]],
  );
}

function progress(line: string): void {
  process.stderr.write(`[bench:failover ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

/** The pid of a task's own process (the process driver's wrapper's child), from the agent's state file. */
function taskProcessPid(agent: TestAgent, taskId: string): number {
  const dir = path.join(agent.dataDir, 'processes');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const st = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { taskId?: string; pid?: number };
    if (st.taskId !== taskId || !st.pid) continue;
    const children = readFileSync(`/proc/${st.pid}/task/${st.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (children.length !== 1) throw new Error(`task ${taskId}: wrapper ${st.pid} has ${children.length} children`);
    return Number(children[0]);
  }
  throw new Error(`task ${taskId}: no process state on ${agent.name}`);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { rounds: { type: 'string' }, lease: { type: 'string' }, replicas: { type: 'string' }, timeout: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 10);
  const leaseSeconds = Number(values.lease ?? 2);
  let replicas = Number(values.replicas ?? 3);
  const timeoutMs = Number(values.timeout ?? 30) * 1000;
  if (!(rounds >= 1) || !(leaseSeconds >= 2) || !(replicas >= 1) || !(timeoutMs > 0)) throw new Error('--rounds, --replicas and --timeout must be positive numbers, --lease at least 2');
  const loadAverage1mStart = loadavg()[0]!;

  let etcd: EtcdCluster | undefined;
  let store: Store | undefined;
  let balancer: TcpBalancer | undefined;
  const servers = new Map<string, TestServer>();
  const agents: TestAgent[] = [];
  const tokenDir = mkdtempSync(path.join(tmpdir(), 'berth-failover-tokens-'));
  const cleanup = async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    for (const s of servers.values()) await s.stop('SIGKILL').catch(() => undefined);
    await balancer?.close().catch(() => undefined);
    store?.close();
    await etcd?.stop().catch(() => undefined);
    rmSync(tokenDir, { recursive: true, force: true });
  };
  cleanUpOnSignal(cleanup, progress);

  try {
    etcd = await startEtcdCluster(3);
    store = new Store({ endpoints: etcd.endpoints, logger: pino({ level: 'silent' }) });
    const endpoints = etcd.endpoints.join(',');
    const start = async (name: string, tokensFrom?: TestServer) => {
      const s = await startServer({ extraArgs: ['--name', name, '--etcd', endpoints, '--leader-lease', String(leaseSeconds)], ...(tokensFrom ? { tokensFrom } : {}) });
      servers.set(name, s);
      balancer?.setBackends([...servers.values()].map((x) => `127.0.0.1:${x.agentPort}`));
      return s;
    };
    const first = await start('s1');
    await Promise.all([start('s2', first), start('s3', first)]);
    const anyServer = () => [...servers.values()][0]!;
    balancer = await startTcpBalancer([...servers.values()].map((x) => `127.0.0.1:${x.agentPort}`));
    // The agents' join token outlives any one server's data dir.
    copyFileSync(path.join(first.dataDir, 'join-token'), path.join(tokenDir, 'join-token'));
    const tokenHolder = { dataDir: tokenDir } as TestServer;
    for (const name of ['fo-a', 'fo-b', 'fo-c']) agents.push(startAgent(tokenHolder, { name, serverAddress: balancer.address, runtime: 'process', cpu: '2', memory: '2Gi' }));
    const apply = await runBerth(['apply', '-f', '-'], { config: first.configPath, input: sleeperManifest(SERVICE, { replicas, cpu: '10m', memory: '8Mi', stopGracePeriodSeconds: 1 }) });
    if (apply.code !== 0) throw new Error(`apply: ${apply.stderr}`);
    progress(`3 servers (lease ${leaseSeconds} s), 3-member etcd, 3 process agents through ${balancer.address}; ${rounds} rounds`);

    const samples: FailoverRound[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Steady state: three servers, a leader, every node ready with its session on a live
      // server, every replica running.
      const steady = await until('a steady state', 3 * timeoutMs, async () => {
        const leader = await store!.get<{ name: string }>(serverKeys.leader);
        const registered = (await store!.list<unknown>(serverKeys.servers)).items.length;
        const nodes = (await store!.list<Node>(keys.nodes)).items;
        const sessions = (await store!.list<{ server: string; silent: boolean }>(serverKeys.sessions)).items;
        const tasks = (await store!.list<Task>(keys.tasksOf(SERVICE))).items;
        const running = liveRunning(tasks);
        if (!leader || !servers.has(leader.name) || registered !== 3 || nodes.length !== 3 || nodes.some((n) => n.status.state !== 'ready')) return undefined;
        if (sessions.length !== 3 || sessions.some((s) => s.silent || !servers.has(s.server))) return undefined;
        if (running.length !== replicas || tasks.some((t) => t.desiredState === 'running' && t.status.state !== 'running')) return undefined;
        const sessionOf = new Map((await Promise.all(nodes.map(async (n) => [n.id, (await store!.get<{ server: string }>(serverKeys.session(n.id)))?.server] as const))));
        return { leader: leader.name, nodes, sessionOf, running };
      });
      const killedName = steady.leader;
      const killed = servers.get(killedName)!;
      const follower = [...servers.entries()].find(([n]) => n !== killedName)![1];
      // A task of a slot that never restarted (a slot restarted less than a minute before waits
      // 1 s of backoff before its next replacement: not what this measures; the scale of the
      // round before made one), on a node whose session a follower holds if there is one.
      const firstRun = steady.running.filter((t) => !t.restarts);
      const candidates = firstRun.length ? firstRun : steady.running;
      const victim = candidates.find((t) => steady.sessionOf.get(t.nodeId!) !== killedName) ?? candidates[0]!;
      const victimAgent = agents.find((a) => a.name === steady.nodes.find((n) => n.id === victim.nodeId)?.name)!;
      const victimPid = taskProcessPid(victimAgent, victim.id);
      const before = new Set((await store.list<Task>(keys.tasksOf(SERVICE))).items.map((t) => t.id));

      // Watch from now: the leader key, and every task put.
      const from = (await store.revision()) + 1;
      let newLeader: { name: string; at: number } | undefined;
      let placedAt: number | undefined;
      let replacedAt: number | undefined;
      let replacedOn: string | undefined;
      const stopLeaderWatch = await store.watch<{ name: string }>(serverKeys.leader, from, (ev) => {
        if (ev.type === 'put' && ev.value.name !== killedName && !newLeader) newLeader = { name: ev.value.name, at: Date.now() };
      }, () => undefined);
      const stopTaskWatch = await store.watch<Task>(keys.tasksOf(SERVICE), from, (ev: WatchEvent<Task>) => {
        if (ev.type !== 'put' || before.has(ev.value.id)) return;
        if (ev.value.nodeId && placedAt === undefined) placedAt = Date.now();
        if (ev.value.slot === victim.slot && ev.value.status.state === 'running' && replacedAt === undefined) {
          replacedAt = Date.now();
          replacedOn = ev.value.nodeId;
        }
      }, () => undefined);

      const t0 = Date.now();
      const killing = killed.stop('SIGKILL');
      replicas++;
      const scaled = await follower.fetch(`${follower.url}/v1/services/${SERVICE}/scale`, {
        method: 'POST',
        headers: { authorization: `Bearer ${follower.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ replicas }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!scaled.ok) throw new Error(`scale through a follower: ${scaled.status} ${await scaled.text()}`);
      process.kill(victimPid, 'SIGKILL');
      await killing;
      servers.delete(killedName);
      balancer.setBackends([...servers.values()].map((x) => `127.0.0.1:${x.agentPort}`));

      try {
        await until('a new leader, a new task placed and the killed task running again', timeoutMs, () =>
          newLeader && placedAt !== undefined && replacedAt !== undefined ? true : undefined,
        );
      } finally {
        await stopLeaderWatch();
        await stopTaskWatch();
      }
      const sample: FailoverRound = {
        killed: killedName,
        newLeader: newLeader!.name,
        newLeaderMs: newLeader!.at - t0,
        firstPlacementMs: placedAt! - t0,
        killedTaskRunningMs: replacedAt! - t0,
        victimAgentOnKilledServer: steady.sessionOf.get(victim.nodeId!) === killedName,
        replacementAgentOnKilledServer: replacedOn !== undefined && steady.sessionOf.get(replacedOn) === killedName,
      };
      samples.push(sample);
      progress(
        `round ${round}/${rounds}: killed ${killedName}, ${sample.newLeader} leads after ${sample.newLeaderMs} ms, first placement ${sample.firstPlacementMs} ms, ` +
          `killed task running again ${sample.killedTaskRunningMs} ms` +
          `${sample.victimAgentOnKilledServer ? ' (its agent joined another server first)' : ''}${sample.replacementAgentOnKilledServer ? ' (placed on a node whose agent joined another server first)' : ''}`,
      );
      // The killed server starts again under its name, with the cluster's CA and tokens.
      await start(killedName, anyServer());
    }

    const result: FailoverResult = {
      bench: 'failover',
      machine: { cpus: cpus().length, loadAverage1mStart, loadAverage1mEnd: loadavg()[0]! },
      leaseMs: leaseSeconds * 1000,
      rounds,
      newLeader: stats(samples.map((s) => s.newLeaderMs)),
      firstPlacement: stats(samples.map((s) => s.firstPlacementMs)),
      killedTaskRunning: stats(samples.map((s) => s.killedTaskRunningMs)),
      samples,
    };
    process.stdout.write(`${JSON.stringify(result)}\n${formatFailoverTable(result)}\n`);
  } finally {
    await cleanup();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:failover: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
