// A bad release undoes itself: 6 ready replicas of berth/web, then a release whose container
// exits at once, with `failureAction: rollback`. The rollout must stop at its first failures,
// return to the previous spec by itself (as a new revision whose change cause says why), end with
// every replica ready, explain itself in events, and `rollout status` must exit 1.
import assert from 'node:assert/strict';
import { eventually } from '../helpers/etcd.js';
import { runBerth, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { getEvents, getRevisions, getService, getTasks, liveTasks, webManifest } from '../helpers/rollout.js';

const NAME = 'release';
const REPLICAS = 6;
const UPDATE = '{ parallelism: 2, monitorSeconds: 1, failureAction: rollback }';

describe('e2e: automatic rollback of a release that crashes (docker runtime)', function () {
  this.timeout(300_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;

  before(async function () {
    this.timeout(120_000);
    cluster = await startCluster({ prefix: 'rb', agents: [{ name: 'a' }, { name: 'b' }] });
    server = cluster.server;
  });

  after(async () => {
    await cluster?.stop({ services: [NAME] });
  });

  it('rolls back to the previous revision by itself; rollout status exits 1', async () => {
    const srv = server!;
    const good = webManifest(NAME, { replicas: REPLICAS, greeting: 'good', update: UPDATE });
    const r1 = await runBerth(['apply', '-f', '-', '--wait', '--timeout', '3m'], { config: srv.configPath, input: good, timeoutMs: 200_000 });
    assert.equal(r1.code, 0, `${r1.stdout}\n${r1.stderr}`);
    const goodIds = new Set(liveTasks(await getTasks(srv, NAME)).map((t) => t.id));

    const bad = webManifest(NAME, { replicas: REPLICAS, greeting: 'bad', update: UPDATE, extra: '  command: ["sh", "-c", "exit 1"]\n' });
    const r2 = await runBerth(['apply', '-f', '-'], { config: srv.configPath, input: bad });
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /service\/release configured/);

    const status = await runBerth(['rollout', 'status', 'service', NAME, '--timeout', '3m'], { config: srv.configPath, timeoutMs: 200_000 });
    assert.equal(status.code, 1, `rollout status exits 1: ${status.stdout}\n${status.stderr}`);
    assert.match(status.stderr, /rolled-back/);

    const svc = await getService(srv, NAME);
    assert.equal(svc.status.update?.state, 'rolled-back');
    assert.equal(svc.metadata.revision, 3, 'the rollback is a revision of its own');
    assert.equal(svc.spec.env?.GREETING, 'good', 'the stored spec is the previous one again');
    assert.equal(svc.spec.command, undefined);
    await eventually(async () => {
      const s = await getService(srv, NAME);
      return s.status.available === REPLICAS && s.status.upToDate === REPLICAS;
    }, 120_000, 'every replica ready on the previous spec');
    const live = liveTasks(await getTasks(srv, NAME));
    assert.equal(live.length, REPLICAS);
    for (const t of live) assert.equal(t.spec.env?.GREETING, 'good');
    const replaced = live.filter((t) => !goodIds.has(t.id)).length;
    assert.ok(replaced <= 2 + 2, `only the first step's slots (plus their restarts) were touched: ${replaced} new tasks`);

    const revs = await getRevisions(srv, NAME);
    const last = revs.items.at(-1)!;
    assert.equal(last.number, 3);
    assert.match(last.changeCause, /^rollback: \d\/6 new tasks failed \(release\.\d\.\S+ failed with exit code 1/);

    // Events are recorded after the state they describe is committed (batched, fire-and-forget),
    // so the last of them may land a moment after `rollout status` has seen the final state.
    const wanted = ['UpdateStarted', 'UpdateTaskFailed', 'RollbackStarted', 'RolledBack'];
    let events = await getEvents(srv, NAME);
    await eventually(async () => {
      events = await getEvents(srv, NAME);
      const reasons = new Set(events.map((e) => e.reason));
      return wanted.every((w) => reasons.has(w));
    }, 10_000, `events ${wanted.join(', ')}`).catch(() => undefined);
    const reasons = events.map((e) => e.reason);
    for (const want of wanted) assert.ok(reasons.includes(want), `event ${want} in ${reasons.join(',')}`);
    const started = events.find((e) => e.reason === 'RollbackStarted')!;
    assert.match(started.message, /update to revision 2 failed: .*rolling back to revision 1 \(as revision 3\)/);
  });
});
