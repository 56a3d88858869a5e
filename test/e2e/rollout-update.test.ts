// Rolling updates on real containers: three docker agents run 6 replicas of berth/web with an
// HTTP health check. A change of env is rolled out stop-first with parallelism 2 (the service,
// sampled through the API about every 100 ms, never has fewer than 4 ready tasks), then
// start-first (never fewer than 6), then `rollout restart` replaces every task once; a rollout
// paused half-way replaces nothing more, a scale meanwhile gets the new spec, and resume ends it.
import assert from 'node:assert/strict';
import { eventually } from '../helpers/etcd.js';
import { runBerth, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { getRevisions, getService, getTasks, liveTasks, startSampler, webManifest, type Sample } from '../helpers/rollout.js';

const NAME = 'rolling';
const REPLICAS = 6;

describe('e2e: rolling updates (docker runtime)', function () {
  this.timeout(400_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;

  const apply = (greeting: string, update: string, args: string[] = []) =>
    runBerth(['apply', '-f', '-', ...args], { config: server!.configPath, input: webManifest(NAME, { replicas: REPLICAS, greeting, update }), timeoutMs: 300_000 });

  /** Applies, follows the rollout with --wait, and returns what the sampler saw meanwhile. */
  async function rollOut(greeting: string, update: string): Promise<Sample[]> {
    const sampler = startSampler(server!, NAME);
    let samples: Sample[] = [];
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await apply(greeting, update, ['--wait', '--timeout', '4m']);
      assert.equal(r.code, 0, `apply --wait: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /updated \d\/6, available \d\/6/);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      samples = await sampler.stop();
    }
    assert.ok(samples.length >= 20, `enough samples (${samples.length})`);
    return samples;
  }

  async function assertAllOn(revision: number, greeting: string): Promise<void> {
    const svc = await getService(server!, NAME);
    assert.equal(svc.metadata.revision, revision);
    assert.equal(svc.status.update?.state, 'completed');
    assert.equal(svc.status.upToDate, REPLICAS);
    assert.equal(svc.status.available, REPLICAS);
    const live = liveTasks(await getTasks(server!, NAME));
    assert.equal(live.length, REPLICAS);
    for (const t of live) {
      assert.equal(t.revision, revision, `${t.name} runs revision ${revision}`);
      assert.equal(t.spec.env?.GREETING, greeting);
    }
  }

  before(async function () {
    this.timeout(120_000);
    cluster = await startCluster({ prefix: 'roll', agents: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    server = cluster.server;
  });

  after(async () => {
    await cluster?.stop({ services: [NAME] });
  });

  it('creates the service as revision 1 and waits for it with apply --wait', async () => {
    const r = await apply('one', '{ parallelism: 2, monitorSeconds: 2 }', ['--wait', '--timeout', '3m']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    await assertAllOn(1, 'one');
  });

  it('stop-first, parallelism 2: never fewer than 4 ready tasks, ends with 6 tasks of the new revision', async () => {
    const before = liveTasks(await getTasks(server!, NAME));
    const samples = await rollOut('two', '{ parallelism: 2, monitorSeconds: 2, order: stop-first }');
    const minAvailable = Math.min(...samples.map((s) => s.available));
    process.stdout.write(`      ${samples.length} samples: min available ${minAvailable} of ${REPLICAS}\n`);
    assert.ok(minAvailable >= REPLICAS - 2, `available never below ${REPLICAS - 2}: min ${minAvailable}`);
    assert.ok(minAvailable < REPLICAS, 'stop-first did take tasks down (the sampler saw the update)');
    await assertAllOn(2, 'two');
    const after = liveTasks(await getTasks(server!, NAME));
    assert.ok(after.every((t) => !before.some((b) => b.id === t.id)), 'every task was replaced');

    const history = await runBerth(['rollout', 'history', 'service', NAME], { config: server!.configPath });
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /REVISION\s+CHANGE-CAUSE\s+CREATED\s+CHANGES/);
    assert.match(history.stdout, /2 \(current\)\s+apply\s+\S+\s+env GREETING/);
    const get = await runBerth(['get', 'services'], { config: server!.configPath });
    assert.match(get.stdout, /UP-TO-DATE\s+AVAILABLE/);
    assert.match(get.stdout, new RegExp(`${NAME}\\s+replicated\\s+6/6\\s+6/6\\s+6\\s+6\\s`));
  });

  it('start-first: never fewer than 6 ready tasks', async () => {
    const samples = await rollOut('three', '{ parallelism: 2, monitorSeconds: 2, order: start-first }');
    const minAvailable = Math.min(...samples.map((s) => s.available));
    const maxLive = Math.max(...samples.map((s) => s.live));
    process.stdout.write(`      ${samples.length} samples: min available ${minAvailable}, max live ${maxLive}\n`);
    assert.ok(minAvailable >= REPLICAS, `available never below ${REPLICAS}: min ${minAvailable}`);
    assert.ok(maxLive > REPLICAS && maxLive <= REPLICAS + 2, `up to replicas + parallelism tasks at once (max ${maxLive})`);
    await assertAllOn(3, 'three');
  });

  it('rollout restart replaces every task once, with a revision of its own', async () => {
    const before = liveTasks(await getTasks(server!, NAME));
    const r = await runBerth(['rollout', 'restart', 'service', NAME], { config: server!.configPath });
    assert.equal(r.code, 0, r.stderr);
    const st = await runBerth(['rollout', 'status', 'service', NAME, '--timeout', '4m'], { config: server!.configPath, timeoutMs: 300_000 });
    assert.equal(st.code, 0, `${st.stdout}\n${st.stderr}`);
    assert.match(st.stdout, /successfully rolled out \(revision 4\)/);
    await assertAllOn(4, 'three');
    const after = liveTasks(await getTasks(server!, NAME));
    assert.ok(after.every((t) => !before.some((b) => b.id === t.id)), 'every task was replaced');
    const revs = await getRevisions(server!, NAME);
    assert.deepEqual(revs.items.map((x) => [x.number, x.changeCause]), [[1, 'apply'], [2, 'apply'], [3, 'apply'], [4, 'rollout restart']]);
  });

  it('pause stops replacing tasks, a scale meanwhile gets the new spec, resume completes the rollout', async () => {
    const srv = server!;
    const berth = (...args: string[]) => runBerth(args, { config: srv.configPath, timeoutMs: 300_000 });
    const r = await apply('four', '{ parallelism: 1, monitorSeconds: 2 }');
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => (await getService(srv, NAME)).status.upToDate! >= 1, 60_000, 'the first slot replaced');
    const paused = await berth('rollout', 'pause', 'service', NAME);
    assert.equal(paused.code, 0, paused.stderr);
    const newTasks = async () => (await getTasks(srv, NAME)).filter((t) => t.spec.env?.GREETING === 'four').map((t) => t.id).sort();
    // A step already begun may still finish its slot; after that nothing more is replaced.
    await eventually(async () => liveTasks(await getTasks(srv, NAME)).filter((t) => t.slot <= 6).length === 6, 60_000, 'the begun slot refilled');
    const atPause = await newTasks();
    const status = await berth('rollout', 'status', 'service', NAME, '--timeout', '30s');
    assert.equal(status.code, 1, `rollout status exits 1 on a paused rollout: ${status.stdout}`);
    assert.match(status.stderr, /rollout paused: paused by the user/);

    const scaled = await berth('scale', 'service', NAME, '--replicas', '8');
    assert.equal(scaled.code, 0, scaled.stderr);
    await eventually(async () => {
      const live = liveTasks(await getTasks(srv, NAME));
      return live.filter((t) => t.slot > 6 && t.spec.env?.GREETING === 'four' && t.status.state === 'running').length === 2;
    }, 60_000, 'the new slots 7 and 8 on the new spec');
    await new Promise((res) => setTimeout(res, 4000));
    const stillPaused = (await newTasks()).filter((id) => !atPause.includes(id));
    const live = liveTasks(await getTasks(srv, NAME));
    assert.equal(stillPaused.length, 2, `only the two new slots got new tasks while paused: ${stillPaused.length}`);
    assert.ok(live.filter((t) => t.slot <= 6 && t.spec.env?.GREETING === 'three').length >= 4, 'old slots left as they were');

    const resumed = await berth('rollout', 'resume', 'service', NAME);
    assert.equal(resumed.code, 0, resumed.stderr);
    const done = await berth('rollout', 'status', 'service', NAME, '--timeout', '4m');
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    const svc = await getService(srv, NAME);
    assert.deepEqual([svc.status.upToDate, svc.status.available, svc.status.desired], [8, 8, 8]);
    const final = liveTasks(await getTasks(srv, NAME));
    assert.equal(final.length, 8);
    assert.ok(final.every((t) => t.spec.env?.GREETING === 'four' && t.revision === 5));
  });
});
