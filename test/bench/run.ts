// `npm run bench`: the scale benchmark (see docs/performance.md).
//
// Owns: the matrix of sizes, the order of runs, the output (one JSON object per size on its own
// line on stdout, a table, bench-results/<timestamp>.json) and cleanup of every process it
// started, also on failure and Ctrl-C. Must not: change anything in the system it measures.
//
//   npm run bench                                   baseline, 100x1,000, 1,000x10,000, 5,000x50,000, 20 containers
//   npm run bench -- --nodes N --tasks M            one hollow size (plus the baseline)
//   npm run bench -- --containers 20                the real-container comparison alone
//   npm run bench -- --nodes N --tasks M --compare-tree DIR --rounds R
//                                                   the size against this tree and DIR alternately, R times each
//   npm run bench -- --nodes N --tasks M --servers 1,3  the size with one server, then three sharing its etcd
//   flags: --container-rounds R --no-baseline --baseline-keys K --no-containers --hollow-procs K --hollow-nice N --dist --cpu-prof DIR --out FILE --timeout S
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { measureBaseline, type Baseline } from './baseline.js';
import { runContainers, type ContainersResult } from './containers.js';
import { runSize, type SizeResult } from './hollow-size.js';
import { machineInfo } from './measure.js';
import { REPO_ROOT, stopAll } from './procs.js';
import { formatTable } from './table.js';

const DEFAULT_MATRIX: [number, number][] = [
  [100, 1_000],
  [1_000, 10_000],
  [5_000, 50_000],
];
const DEFAULT_CONTAINERS = 20;
/** Below this much memory, 5,000 hollow nodes plus a 50,000-task control plane do not fit. */
const LARGE_SIZE_MIN_MEMORY = 8 * 1024 ** 3;

const USAGE = `npm run bench -- [flags]   (see docs/performance.md)
  (no flags)                 baseline, 100x1,000, 1,000x10,000, 5,000x50,000, 20 containers
  --nodes N --tasks M        one size of hollow nodes
  --containers N             N real containers through Berth against direct Docker (alone unless with a size)
  --container-rounds R       rounds of that comparison, medians reported (default 5)
  --no-containers, --no-baseline, --hollow-procs K, --timeout SECONDS, --baseline-keys K
  --hollow-nice N            run the hollow runners at nice N (1-19): they stand for other machines
  --cpu-prof DIR             V8 CPU profile of the server (read it with test/bench/profile-top.ts)
  --out FILE                 the JSON report (default bench-results/<time>.json)
  --dist                     run the built server from dist/
  --compare-tree DIR         also run each size against the checkout DIR (e.g. a worktree of an older
                             commit): its server and hollow runners, this harness; alternating
  --rounds R                 run each size R times (alternating with --compare-tree; default 1)
  --tree DIR                 run the checkout DIR in place of this tree (with --compare-tree: two
                             other trees against each other, by this harness)
  --servers LIST             servers sharing the etcd, e.g. 3 or 1,3 (each count in turn per size and
                             round; default 1): hollow runners, applies and API load spread over them
Environment: BERTH_BENCH_LOG_DIR=DIR keeps every process's whole output there;
  BERTH_BENCH_SERVER_FLAGS / BERTH_BENCH_HOLLOW_FLAGS add Node flags to the server / hollow runners;
  BERTH_BENCH_HOLLOW_LOG_LEVEL (default error) is the hollow runners' log level.
`;

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      tasks: { type: 'string' },
      containers: { type: 'string' },
      'container-rounds': { type: 'string' },
      'no-containers': { type: 'boolean' },
      'no-baseline': { type: 'boolean' },
      'hollow-procs': { type: 'string' },
      'hollow-nice': { type: 'string' },
      dist: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      'baseline-keys': { type: 'string' },
      'compare-tree': { type: 'string' },
      tree: { type: 'string' },
      rounds: { type: 'string' },
      servers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const machine = machineInfo();
  const single = values.nodes !== undefined || values.tasks !== undefined;
  const onlyContainers = values.containers !== undefined && !single;
  if (single && (!Number(values.nodes) || !Number(values.tasks))) throw new Error('--nodes N and --tasks M go together');
  let matrix: [number, number][] = single ? [[Number(values.nodes), Number(values.tasks)]] : onlyContainers ? [] : DEFAULT_MATRIX;
  const notes: string[] = [];
  if (!single && machine.memoryBytes < LARGE_SIZE_MIN_MEMORY) {
    matrix = matrix.filter(([n]) => n < 5000);
    notes.push(`5,000 x 50,000 skipped: ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB of memory, at least 8 GiB needed`);
  }
  const hollowNice = Number(values['hollow-nice'] ?? 0);
  if (!Number.isInteger(hollowNice) || hollowNice < 0 || hollowNice > 19) throw new Error(`--hollow-nice: ${values['hollow-nice']} is not a nice value from 0 to 19`);
  const containers = values['no-containers'] ? 0 : Number(values.containers ?? (single ? 0 : DEFAULT_CONTAINERS));
  const common = {
    ...(values.dist ? { dist: true } : {}),
    ...(values['cpu-prof'] ? { cpuProfDir: path.resolve(values['cpu-prof']) } : {}),
  };

  const startedAt = new Date().toISOString();
  progress(`machine: ${machine.cores} cores (${machine.cpuModel}), ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB, node ${machine.node}, etcd ${machine.etcd}, load ${machine.loadAverage1m}`);
  for (const n of notes) progress(n);

  let baseline: Baseline | undefined;
  if (!values['no-baseline'] && matrix.length) {
    progress('baseline: raw etcd put throughput');
    baseline = await measureBaseline(values['baseline-keys'] ? { batchedKeys: Number(values['baseline-keys']), singleKeys: Math.ceil(Number(values['baseline-keys']) / 10) } : {});
    progress(`baseline: ${JSON.stringify(baseline)}`);
  }

  // Each size against this tree, then the other (if any), R times: alternating, so a noisy stretch
  // of a shared machine falls on both.
  const compareTree = values['compare-tree'] ? path.resolve(values['compare-tree']) : undefined;
  const rounds = Math.max(1, Number(values.rounds ?? 1));
  const firstTree = values.tree ? path.resolve(values.tree) : undefined;
  const serverCounts = (values.servers ?? '1').split(',').map(Number);
  if (serverCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 9)) throw new Error(`--servers: ${values.servers} is not a list of server counts from 1 to 9`);
  const runs = matrix.flatMap(([nodes, tasks]) =>
    Array.from({ length: rounds }, () => serverCounts.flatMap((servers) => [firstTree, ...(compareTree ? [compareTree] : [])].map((root) => ({ nodes, tasks, root, servers })))).flat(),
  );
  const sizes: (SizeResult & Partial<Baseline>)[] = [];
  // A size that fails (e.g. nodes never all ready) is reported and the next run goes on.
  const failures: { nodes: number; tasks: number; servers: number; tree: string; loadAverage1m: number; error: string }[] = [];
  for (const { nodes, tasks, root, servers } of runs) {
    const loadAverage1m = os.loadavg()[0]!;
    progress(`size ${nodes} nodes x ${tasks} tasks${servers > 1 ? `, ${servers} servers` : ''}${root ? ` (tree ${root})` : ''}, load ${loadAverage1m.toFixed(2)}`);
    const r = await runSize({
      nodes,
      tasks,
      servers,
      progress,
      ...common,
      ...(root ? { root } : {}),
      ...(values['hollow-procs'] ? { hollowProcs: Number(values['hollow-procs']) } : {}),
      ...(hollowNice ? { hollowNice } : {}),
      ...(values.timeout ? { timeoutMs: Number(values.timeout) * 1000 } : {}),
    }).catch((err: unknown) => {
      const failure = { nodes, tasks, servers, tree: root ?? 'this', loadAverage1m, error: (err as Error).message };
      failures.push(failure);
      progress(`failed: ${failure.error}`);
      process.stdout.write(`${JSON.stringify(failure)}\n`);
      return undefined;
    });
    if (!r) continue;
    const line = { ...r, ...baseline };
    sizes.push(line);
    // The per-second timeline goes to the results file only: the printed line stays readable.
    const { timeline: _timeline, apiCallsTimeline: _calls, ...printed } = line;
    process.stdout.write(`${JSON.stringify(printed)}\n`);
  }

  let containerResult: ContainersResult | undefined;
  if (containers > 0) {
    progress(`containers: ${containers} replicas of berth/web:latest, Berth against direct Docker`);
    containerResult = await runContainers({
      count: containers,
      progress,
      ...(values['container-rounds'] ? { rounds: Math.max(1, Number(values['container-rounds'])) } : {}),
      ...(values.dist ? { dist: true } : {}),
    });
    process.stdout.write(`${JSON.stringify(containerResult)}\n`);
  }

  process.stdout.write(`\n${formatTable(sizes, containerResult)}\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);

  for (const f of failures) process.stdout.write(`failed: ${f.nodes} x ${f.tasks} (${f.tree}, load ${f.loadAverage1m.toFixed(2)}): ${f.error}\n`);

  const report = { startedAt, machine, notes, baseline, sizes, failures, containers: containerResult };
  const out = values.out ? path.resolve(values.out) : path.join(REPO_ROOT, 'bench-results', `${startedAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  progress(`results written to ${out}`);
  return !failures.length && sizes.every((s) => s.completed) && (containerResult?.completed ?? true) ? 0 : 1;
}

let interrupted = false;
const onSignal = (sig: NodeJS.Signals) => {
  if (interrupted) return;
  interrupted = true;
  progress(`${sig}: stopping every process started`);
  void stopAll().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

main(process.argv.slice(2))
  .catch((err: unknown) => {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  })
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(() => process.exit(1));
