// `npm run bench:healing`: how fast Berth heals, on this machine, with real Docker.
//
// Measures, over repeated runs: (1) from `docker kill` of a task's container to its replacement
// running, and (2) from an agent's SIGKILL to all of its tasks' replacements running, both as
// the agents report it (the `running` status timestamp), printed as one JSON object with the
// median and p95 beside the configured heartbeat grace. Starts one `berth server` and docker
// agents as child processes; stops each by its pid and removes every container it created,
// also on failure and Ctrl-C. Must not: change the system it measures.
//
//   npm run bench:healing [-- --runs 5 --grace 5 --timeout 120]
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Task } from '../../common/types.js';
import { runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { docker, ensureTestImages, removeContainersOfNodes, testNodeName, BUSYBOX_IMAGE } from '../helpers/docker.js';
import { errorMessage } from '../../common/errors.js';
import { cleanUpOnSignal, tasksOf, until } from './bench-kit.js';

interface Stats {
  samplesMs: number[];
  medianMs: number;
  p95Ms: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? NaN;
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
  return { samplesMs: samples, medianMs: median, p95Ms: rank(0.95) };
}

function progress(line: string): void {
  process.stderr.write(`[bench:healing ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}



async function nodeIds(server: TestServer): Promise<Map<string, { id: string; state: string }>> {
  const res = await server.fetch(`${server.url}/v1/nodes`, { headers: { authorization: `Bearer ${server.token}` }, signal: AbortSignal.timeout(5000) });
  const { items } = (await res.json()) as { items: { id: string; name: string; status: { state: string } }[] };
  return new Map(items.map((n) => [n.name, { id: n.id, state: n.status.state }]));
}


const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

async function apply(server: TestServer, yaml: string): Promise<void> {
  const r = await runBerth(['apply', '-f', '-'], { config: server.configPath, input: yaml });
  if (r.code !== 0) throw new Error(`apply: ${r.stderr}`);
}

const sleeperService = (name: string, replicas: number, pinnedTo?: string) => `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sleep", "3600"]
  replicas: ${replicas}
  stopGracePeriodSeconds: 1
  resources:
    cpu: 100m
    memory: 16Mi
${pinnedTo ? `  placement:\n    constraints: ["node.name == ${pinnedTo}"]\n` : ''}`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: 'string' }, grace: { type: 'string' }, timeout: { type: 'string' } } });
  const runs = Number(values.runs ?? 5);
  const graceSeconds = Number(values.grace ?? 5);
  const timeoutMs = Number(values.timeout ?? 120) * 1000;
  if (!(runs >= 1) || !(graceSeconds > 0) || !(timeoutMs > 0)) throw new Error('--runs, --grace and --timeout must be positive numbers');

  const agents: TestAgent[] = [];
  const allNames: string[] = [];
  const services: string[] = [];
  let server: TestServer | undefined;
  const cleanup = async () => {
    if (server && services.length) await runBerth(['delete', 'service', ...services], { config: server.configPath }).catch(() => undefined);
    for (const a of agents) await a.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await removeContainersOfNodes(allNames);
  };
  cleanUpOnSignal(cleanup, progress);

  const newAgent = (prefix: string) => {
    const name = testNodeName(prefix);
    allNames.push(name);
    const a = startAgent(server!, { name, runtime: 'docker', cpu: '2', memory: '2Gi' });
    agents.push(a);
    return a;
  };
  const waitReady = (names: string[]) =>
    until(`nodes ${names.join(', ')} ready`, timeoutMs, async () => {
      const nodes = await nodeIds(server!);
      return names.every((n) => nodes.get(n)?.state === 'ready') ? nodes : undefined;
    });

  try {
    await ensureTestImages();
    server = await startServer({ extraArgs: ['--heartbeat-grace', String(graceSeconds)] });
    let pool = [newAgent('hb-a'), newAgent('hb-b'), newAgent('hb-c')];
    await waitReady(pool.map((a) => a.name));
    progress(`server and ${pool.length} docker agents ready; heartbeat grace ${graceSeconds}s, ${runs} runs each`);

    // (1) docker kill -> replacement running. One slot per run: a slot's first crash restarts at
    // once, later ones back off on purpose, which is not what this measures.
    services.push('heal-kill');
    await apply(server, sleeperService('heal-kill', runs, pool[0]!.name));
    await until('heal-kill running', timeoutMs, async () => (liveRunning(await tasksOf(server!, 'heal-kill')).length === runs ? true : undefined));
    const killMs: number[] = [];
    for (let slot = 1; slot <= runs; slot++) {
      const task = liveRunning(await tasksOf(server, 'heal-kill')).find((t) => t.slot === slot);
      if (!task?.status.containerId) throw new Error(`no running task in slot ${slot}`);
      const t0 = Date.now();
      await docker('kill', task.status.containerId);
      const next = await until(`slot ${slot} replaced`, timeoutMs, async () =>
        liveRunning(await tasksOf(server!, 'heal-kill')).find((t) => t.slot === slot && t.id !== task.id),
      );
      killMs.push(Date.parse(next.status.timestamp) - t0);
      progress(`container kill ${slot}/${runs}: ${killMs.at(-1)} ms`);
    }

    // (2) agent SIGKILL -> every task it ran running elsewhere. A fresh service per run spreads
    // over the three live agents; the killed one is replaced in the pool by a new agent.
    const nodeLossMs: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const name = `heal-node-${run}`;
      services.push(name);
      await apply(server, sleeperService(name, 6));
      await until(`${name} running`, timeoutMs, async () => (liveRunning(await tasksOf(server!, name)).length === 6 ? true : undefined));
      const ids = await nodeIds(server);
      const before = liveRunning(await tasksOf(server, name));
      const victim = pool.find((a) => before.some((t) => t.nodeId === ids.get(a.name)?.id));
      if (!victim) throw new Error('no agent holds a task');
      const victimId = ids.get(victim.name)!.id;
      const t0 = Date.now();
      await victim.stop({ signal: 'SIGKILL' });
      const after = await until(`${name} replaced`, timeoutMs, async () => {
        const live = liveRunning(await tasksOf(server!, name));
        return live.length === 6 && live.every((t) => t.nodeId !== victimId) ? live : undefined;
      });
      const replacements = after.filter((t) => !before.some((b) => b.id === t.id));
      nodeLossMs.push(Math.max(...replacements.map((t) => Date.parse(t.status.timestamp))) - t0);
      progress(`agent kill ${run}/${runs}: ${replacements.length} replacements running after ${nodeLossMs.at(-1)} ms`);

      // Clean up the run: the service, the dead node's containers, the node; a fresh agent.
      await runBerth(['delete', 'service', name], { config: server.configPath });
      services.splice(services.indexOf(name), 1);
      await removeContainersOfNodes([victim.name]);
      await runBerth(['node', 'rm', victim.name], { config: server.configPath });
      pool = pool.filter((a) => a !== victim);
      if (run < runs) {
        pool.push(newAgent('hb-n'));
        await waitReady(pool.map((a) => a.name));
      }
      await until(`${name} tasks removed`, timeoutMs, async () => ((await tasksOf(server!, name)).length === 0 ? true : undefined));
    }

    const result = {
      bench: 'healing',
      machine: { cpus: cpus().length, runtime: 'docker' },
      heartbeatGraceMs: graceSeconds * 1000,
      runs,
      containerKillToReplacementRunning: stats(killMs),
      agentKillToAllReplacementsRunning: stats(nodeLossMs),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await cleanup();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:healing: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
