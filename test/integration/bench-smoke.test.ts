// The scale benchmark at a tiny size (5 hollow nodes x 20 tasks, 2 real containers), so the
// harness cannot rot: it must finish, print its JSON lines with sane values, write its results
// file and leave no container behind. The failover benchmark for 2 rounds, likewise. No timing is
// asserted: speed belongs to `npm run bench` and `npm run bench:failover`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { docker, ensureTestImages } from '../helpers/docker.js';
import { REPO_ROOT } from '../helpers/berth.js';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[], script = 'run.ts'): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test', 'bench', script), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, BERTH_CONFIG: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // SIGTERM lets the harness stop what it started; it is given a minute to do so.
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench (smoke, tiny size)', function () {
  this.timeout(300_000);
  let dir: string;
  let run: RunResult;
  let lines: Record<string, unknown>[];

  before(async () => {
    await ensureTestImages();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-bench-smoke-'));
    run = await runBench(['--nodes', '5', '--tasks', '20', '--hollow-nice', '5', '--containers', '2', '--container-rounds', '2', '--baseline-keys', '1280', '--out', path.join(dir, 'out.json')]);
    lines = run.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('completes and prints one JSON line per size with the documented fields', () => {
    assert.equal(run.code, 0, `bench exited ${run.code}:\n${run.stderr.slice(-3000)}`);
    const size = lines.find((l) => l.nodes === 5);
    assert.ok(size, `no size line in:\n${run.stdout}`);
    assert.equal(size.tasks, 20);
    assert.equal(size.completed, true);
    assert.equal(size.tasksRunning, 20);
    for (const f of ['secondsToAllRunning', 'placementsPerSecond', 'controlPlanePeakRssBytes', 'etcdDbBytes', 'baselineEtcdBatchedPutsPerSecond', 'baselineEtcdSinglePutsPerSecond']) {
      assert.ok(typeof size[f] === 'number' && size[f] > 0, `${f} = ${String(size[f])}`);
    }
    for (const f of ['apiP50Ms', 'apiP99Ms', 'controlPlaneCpuSeconds', 'harnessCpuSeconds']) {
      assert.ok(typeof size[f] === 'number' && size[f] >= 0, `${f} = ${String(size[f])}`);
    }
    assert.ok((size.apiP99Ms as number) >= (size.apiP50Ms as number));
    assert.ok((size.apiCalls as number) >= 1);
    assert.equal(size.apiErrors, 0);
    // --hollow-nice: the runners really ran at that priority (read back from the processes).
    assert.equal(size.hollowNice, 5);
  });

  it('compares real containers started through Berth with direct Docker', () => {
    const c = lines.find((l) => 'containers' in l);
    assert.ok(c, `no containers line in:\n${run.stdout}`);
    assert.equal(c.containers, 2);
    assert.equal(c.completed, true);
    assert.ok((c.dockerDirectSeconds as number) > 0 && (c.berthSeconds as number) > 0 && (c.overheadRatio as number) > 0);
    const rounds = c.rounds as { berthSeconds: number; dockerDirectSeconds: number }[];
    assert.equal(rounds.length, 2, 'one entry per round');
    for (const r of rounds) assert.ok(r.berthSeconds > 0 && r.dockerDirectSeconds > 0);
  });

  it('writes the results file and a table', () => {
    assert.ok(existsSync(path.join(dir, 'out.json')));
    const report = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')) as {
      sizes: { apiCallsTimeline: { kind: string; ms: number; serverMs?: number }[] }[];
      machine: { cores: number };
    };
    assert.equal(report.sizes.length, 1);
    // Every call of the API load is in the file, with the server's own time (its Server-Timing header).
    const calls = report.sizes[0]!.apiCallsTimeline.filter((c) => c.kind !== 'etcdGet' && c.kind !== 'bulkApply');
    assert.ok(calls.length >= 1, 'API calls recorded');
    for (const c of calls) assert.ok(typeof c.serverMs === 'number' && c.serverMs <= c.ms, `call ${JSON.stringify(c)}`);
    assert.ok(report.sizes[0]!.apiCallsTimeline.some((c) => c.kind === 'etcdGet'), 'etcd reads sampled alongside');
    assert.ok(report.machine.cores >= 1);
    assert.match(run.stdout, /placements\/s/);
  });

  it('leaves no benchmark container behind', async () => {
    const left = await docker('ps', '-a', '-q', '--filter', 'label=berth.bench');
    const nodes = await docker('ps', '-a', '--format', '{{.Label "berth.node"}}');
    assert.equal(left, '');
    assert.ok(!nodes.split('\n').some((n) => n.startsWith('bench-docker-')), `left: ${nodes}`);
  });
});

describe('npm run bench:failover (smoke, 2 rounds)', function () {
  this.timeout(300_000);
  let run: RunResult;

  before(async () => {
    run = await runBench(['--rounds', '2'], 'failover.ts');
  });

  it('completes and prints one JSON line with every round, the medians and p95s, and a table', () => {
    assert.equal(run.code, 0, `bench exited ${run.code}:\n${run.stderr.slice(-3000)}`);
    const line = run.stdout.split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, `no JSON line in:\n${run.stdout}`);
    const r = JSON.parse(line) as {
      bench: string;
      leaseMs: number;
      rounds: number;
      samples: { killed: string; newLeader: string; newLeaderMs: number; firstPlacementMs: number; killedTaskRunningMs: number }[];
      newLeader: { medianMs: number; p95Ms: number };
      firstPlacement: { medianMs: number; p95Ms: number };
      killedTaskRunning: { medianMs: number; p95Ms: number };
    };
    assert.equal(r.bench, 'failover');
    assert.equal(r.leaseMs, 2000);
    assert.equal(r.rounds, 2);
    assert.equal(r.samples.length, 2);
    for (const s of r.samples) {
      assert.notEqual(s.newLeader, s.killed, 'another server leads');
      for (const ms of [s.newLeaderMs, s.firstPlacementMs, s.killedTaskRunningMs]) assert.ok(ms > 0, JSON.stringify(s));
    }
    for (const st of [r.newLeader, r.firstPlacement, r.killedTaskRunning]) assert.ok(st.medianMs > 0 && st.p95Ms >= st.medianMs, JSON.stringify(st));
    assert.match(run.stdout, /new leader p50 s/);
  });
});
