// Revision history and undo on real containers: a service with `revisionHistoryLimit: 3` is
// applied five times with a different env value; history keeps the last three; `rollout undo`
// returns to the previous template and `--to-revision N` to any kept one, each as a new revision
// whose tasks run that template; a change of replicas alone makes no revision.
import assert from 'node:assert/strict';
import { eventually } from '../helpers/etcd.js';
import { runBerth, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { BUSYBOX_IMAGE } from '../helpers/docker.js';
import { getRevisions, getService, getTasks, liveTasks } from '../helpers/rollout.js';

const NAME = 'history';

const manifest = (version: string, replicas = 2) => `apiVersion: berth/v1
kind: Service
metadata:
  name: ${NAME}
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sleep", "600"]
  replicas: ${replicas}
  stopGracePeriodSeconds: 1
  revisionHistoryLimit: 3
  env:
    VERSION: "${version}"
  update: { parallelism: 0, monitorSeconds: 0 }
`;

describe('e2e: rollout history and undo (docker runtime)', function () {
  this.timeout(300_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;
  const berth = (args: string[], input?: string) => runBerth(args, { config: server!.configPath, timeoutMs: 120_000, ...(input ? { input } : {}) });

  async function runsVersion(version: string, revision: number): Promise<void> {
    await eventually(async () => {
      const svc = await getService(server!, NAME);
      const live = liveTasks(await getTasks(server!, NAME));
      return svc.status.update?.state === 'completed' && svc.metadata.revision === revision && live.length === 2 &&
        live.every((t) => t.status.state === 'running' && t.spec.env?.VERSION === version && t.revision === revision);
    }, 90_000, `every task on revision ${revision} (VERSION ${version})`);
  }

  before(async function () {
    this.timeout(120_000);
    cluster = await startCluster({ prefix: 'undo', agents: [{ name: 'a' }] });
    server = cluster.server;
  });

  after(async () => {
    await cluster?.stop({ services: [NAME] });
  });

  it('keeps the configured number of revisions; identical and replicas-only applies make none', async () => {
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5']) {
      const r = await berth(['apply', '-f', '-', '--wait', '--timeout', '2m'], manifest(v));
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    }
    await runsVersion('v5', 5);
    assert.match((await berth(['apply', '-f', '-'], manifest('v5'))).stdout, /unchanged/);
    const scaled = await berth(['apply', '-f', '-', '--wait', '--timeout', '2m'], manifest('v5', 3));
    assert.equal(scaled.code, 0, scaled.stderr);
    const scaledBack = await berth(['apply', '-f', '-', '--wait', '--timeout', '2m'], manifest('v5', 2));
    assert.equal(scaledBack.code, 0, scaledBack.stderr);
    const revs = await getRevisions(server!, NAME);
    assert.deepEqual(revs.items.map((r) => r.number), [3, 4, 5]);
    assert.equal(revs.current, 5);
    const history = await berth(['rollout', 'history', 'service', NAME]);
    assert.equal(history.code, 0, history.stderr);
    const lines = history.stdout.trim().split('\n');
    assert.equal(lines.length, 4, history.stdout);
    assert.match(lines[3] ?? '', /^5 \(current\)\s+apply\s+\S+\s+env VERSION$/);
  });

  it('rollout undo returns to the previous revision, --to-revision to any kept one', async () => {
    const undo = await berth(['rollout', 'undo', 'service', NAME]);
    assert.equal(undo.code, 0, undo.stderr);
    await runsVersion('v4', 6);
    // The history keeps 4, 5, 6 now: revision 3 went with the undo.
    const to = await berth(['rollout', 'undo', 'service', NAME, '--to-revision', '5']);
    assert.equal(to.code, 0, to.stderr);
    await runsVersion('v5', 7);
    const status = await berth(['rollout', 'status', 'service', NAME, '--timeout', '1m']);
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);

    const revs = await getRevisions(server!, NAME);
    assert.deepEqual(revs.items.map((r) => [r.number, r.changeCause]), [[5, 'apply'], [6, 'rollout undo to 4'], [7, 'rollout undo to 5']]);
    const gone = await berth(['rollout', 'undo', 'service', NAME, '--to-revision', '1']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /no revision 1 \(kept: 5, 6, 7\)/);
  });
});
