// `npm run bench:workloads`: what secrets and configs cost, on this machine, with real Docker.
//
// Measures (1) from `berth secret update` to every task of a 10-replica service running with the
// new value (read in each container at the end), against the floor its own update policy sets
// (steps x monitorSeconds + (steps - 1) x delaySeconds, steps = ceil(replicas / parallelism): the
// time the rollout waits even if tasks started instantly); and (2) the start-up of a task with 3
// secrets and a config against one without, in the same run: rounds alternate the two, each a
// fresh one-replica service, timed from the apply to its task's `running` status timestamp;
// medians and their ratio (target <= 1.1). Prints one JSON object. Starts one `berth server` and
// one docker agent as child processes; stops each by its pid and removes every container,
// service, secret and config it created, also on failure and Ctrl-C. Must not: change the system
// it measures.
//
//   npm run bench:workloads [-- --runs 3 --rounds 7 --parallelism 2 --monitor 1 --delay 0 --timeout 180]
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Task } from '../../common/types.js';
import { errorMessage } from '../../common/errors.js';
import { sleep } from '../../common/sleep.js';
import { runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';
import { cleanUpOnSignal, tasksOf, until } from './bench-kit.js';

function progress(line: string): void {
  process.stderr.write(`[bench:workloads ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}



const liveRunning = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

async function berth(server: TestServer, args: string[], input?: string): Promise<string> {
  const r = await runBerth(args, { config: server.configPath, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function service(name: string, replicas: number, extra: string[]): string {
  return [
    'apiVersion: berth/v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  image: ${BUSYBOX_IMAGE}`,
    '  command: ["sleep", "3600"]',
    `  replicas: ${replicas}`,
    '  stopGracePeriodSeconds: 1',
    '  resources:',
    '    cpu: 10m',
    '    memory: 16Mi',
    ...extra.map((l) => `  ${l}`),
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { runs: { type: 'string' }, rounds: { type: 'string' }, parallelism: { type: 'string' }, monitor: { type: 'string' }, delay: { type: 'string' }, timeout: { type: 'string' } },
  });
  const runs = Number(values.runs ?? 3);
  const rounds = Number(values.rounds ?? 7);
  const parallelism = Number(values.parallelism ?? 2);
  const monitorSeconds = Number(values.monitor ?? 1);
  const delaySeconds = Number(values.delay ?? 0);
  const timeoutMs = Number(values.timeout ?? 180) * 1000;
  if (!(runs >= 1) || !(rounds >= 1) || !(parallelism >= 1) || !(monitorSeconds >= 0) || !(delaySeconds >= 0) || !(timeoutMs > 0)) {
    throw new Error('--runs, --rounds, --parallelism must be >= 1; --monitor, --delay >= 0; --timeout > 0');
  }
  const replicas = 10;
  const suffix = Math.random().toString(16).slice(2, 8);
  const secretNames = [0, 1, 2].map((i) => `bench-s${i}-${suffix}`);
  const configName = `bench-c-${suffix}`;
  const services = new Set<string>();
  const nodeName = testNodeName('bw');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const cleanup = async () => {
    if (server) {
      if (services.size) await runBerth(['delete', 'service', ...services], { config: server.configPath }).catch(() => undefined);
      await until('services gone', 60_000, async () => ((await Promise.all([...services].map((s) => tasksOf(server!, s)))).every((t) => t.length === 0) ? true : undefined)).catch(() => undefined);
      for (const s of secretNames) await runBerth(['secret', 'rm', s], { config: server.configPath }).catch(() => undefined);
      await runBerth(['config', 'rm', configName], { config: server.configPath }).catch(() => undefined);
    }
    await agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await removeContainersOfNodes([nodeName]);
  };
  cleanUpOnSignal(cleanup, progress);

  try {
    await ensureTestImages();
    server = await startServer();
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '8', memory: '8Gi' });
    await until('the node ready', timeoutMs, async () => {
      const res = await server!.fetch(`${server!.url}/v1/nodes`, { headers: { authorization: `Bearer ${server!.token}` } });
      const { items } = (await res.json()) as { items: { name: string; status: { state: string } }[] };
      return items.some((n) => n.name === nodeName && n.status.state === 'ready') ? true : undefined;
    });
    for (const s of secretNames) await berth(server, ['secret', 'create', s, '-f', '-'], `${s}-value-0`);
    await berth(server, ['config', 'create', configName, '-f', '-'], 'key = value\n');
    progress(`server and a docker agent ready; ${runs} secret updates of ${replicas} replicas, ${rounds} start-up rounds`);

    // (1) secret update -> every task running with the new value.
    const rolled = `bench-rolled-${suffix}`;
    services.add(rolled);
    await berth(
      server,
      ['apply', '-f', '-'],
      service(rolled, replicas, [
        'update:',
        `  parallelism: ${parallelism}`,
        `  delaySeconds: ${delaySeconds}`,
        `  monitorSeconds: ${monitorSeconds}`,
        '  order: start-first',
        'secrets:',
        `  - source: ${secretNames[0]}`,
      ]),
    );
    await until(`${rolled} running`, timeoutMs, async () => (liveRunning(await tasksOf(server!, rolled)).length === replicas ? true : undefined));
    const steps = Math.ceil(replicas / parallelism);
    const floorMs = (steps * monitorSeconds + (steps - 1) * delaySeconds) * 1000;
    const updateMs: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const before = new Set((await tasksOf(server, rolled)).map((t) => t.id));
      const value = `${secretNames[0]}-value-${run}`;
      const t0 = Date.now();
      await berth(server, ['secret', 'update', secretNames[0]!, '-f', '-'], value);
      const fresh = await until(`the rollout of update ${run}`, timeoutMs, async () => {
        const live = liveRunning(await tasksOf(server!, rolled));
        return live.length === replicas && live.every((t) => !before.has(t.id)) && (await tasksOf(server!, rolled)).every((t) => !before.has(t.id) || t.desiredState !== 'running') ? live : undefined;
      });
      updateMs.push(Math.max(...fresh.map((t) => Date.parse(t.status.timestamp))) - t0);
      for (const t of fresh) {
        const read = await docker('exec', t.status.containerId!, 'cat', `/run/secrets/${secretNames[0]}`);
        if (read !== value) throw new Error(`task ${t.name} reads ${JSON.stringify(read)}, not the new value`);
      }
      progress(`secret update ${run}/${runs}: ${replicas} tasks running with the new value after ${updateMs.at(-1)} ms (policy floor ${floorMs} ms)`);
      await sleep(1000);
    }
    await berth(server, ['delete', 'service', rolled]);
    await until(`${rolled} gone`, timeoutMs, async () => ((await tasksOf(server!, rolled)).length === 0 ? true : undefined));
    services.delete(rolled);

    // (2) start-up with 3 secrets and a config against without, alternating.
    const files = ['secrets:', ...secretNames.map((s) => `  - source: ${s}`), 'configs:', `  - source: ${configName}`];
    const startMs: Record<'withFiles' | 'plain', number[]> = { withFiles: [], plain: [] };
    for (let round = 1; round <= rounds; round++) {
      const order: ('withFiles' | 'plain')[] = round % 2 ? ['withFiles', 'plain'] : ['plain', 'withFiles'];
      for (const kind of order) {
        const name = `bench-${kind === 'plain' ? 'plain' : 'files'}-${round}-${suffix}`;
        services.add(name);
        const t0 = Date.now();
        await berth(server, ['apply', '-f', '-'], service(name, 1, kind === 'plain' ? [] : files));
        const [task] = await until(`${name} running`, timeoutMs, async () => {
          const live = liveRunning(await tasksOf(server!, name));
          return live.length === 1 ? live : undefined;
        });
        startMs[kind].push(Date.parse(task!.status.timestamp) - t0);
        await berth(server, ['delete', 'service', name]);
        await until(`${name} gone`, timeoutMs, async () => ((await tasksOf(server!, name)).length === 0 ? true : undefined));
        services.delete(name);
      }
      progress(`start-up round ${round}/${rounds}: with 3 secrets and a config ${startMs.withFiles.at(-1)} ms, without ${startMs.plain.at(-1)} ms`);
    }

    const withFiles = median(startMs.withFiles);
    const plain = median(startMs.plain);
    const medianUpdate = median(updateMs);
    const result = {
      bench: 'workloads',
      machine: { cpus: cpus().length, runtime: 'docker' },
      secretUpdate: {
        replicas,
        policy: { parallelism, delaySeconds, monitorSeconds, order: 'start-first' },
        policyFloorMs: floorMs,
        samplesMs: updateMs,
        medianMs: medianUpdate,
        medianOverFloorMs: medianUpdate - floorMs,
        medianOverFloorRatio: floorMs ? Number((medianUpdate / floorMs).toFixed(2)) : null,
      },
      taskStart: {
        rounds,
        withThreeSecretsAndAConfigMs: startMs.withFiles,
        withoutMs: startMs.plain,
        medianWithMs: withFiles,
        medianWithoutMs: plain,
        ratio: Number((withFiles / plain).toFixed(3)),
        target: 1.1,
      },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await cleanup();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:workloads: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
