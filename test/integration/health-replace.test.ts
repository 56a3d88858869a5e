// Self-healing through the whole system: a berth server and a berth agent (process runtime) as
// child processes. A task whose health check starts failing is stopped by its agent, reported
// failed (Unhealthy) through the dispatcher, and replaced by the orchestrator in the same slot;
// the service's READY count follows.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Service, Task } from '../../common/types.js';
import { berthJson, listTasks, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { eventually } from '../helpers/etcd.js';

describe('unhealthy tasks are replaced (server + process agent)', function () {
  this.timeout(120_000);
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-health-e2e-'));
  });
  afterEach(async () => {
    await agent?.stop();
    await server?.stop();
    agent = undefined;
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports health and READY, and replaces a task that turns unhealthy in the same slot', async () => {
    server = await startServer();
    agent = startAgent(server, { name: 'hc-node' });
    await waitNodesReady(server, [agent]);

    const readyFile = path.join(dir, 'ready');
    writeFileSync(readyFile, 'ok\n');
    const manifest = path.join(dir, 'svc.yaml');
    writeFileSync(
      manifest,
      [
        'apiVersion: berth/v1',
        'kind: Service',
        'metadata: { name: probed }',
        'spec:',
        '  image: none',
        '  replicas: 1',
        '  command: [sleep, "1000"]',
        `  env: { READY_FILE: "${readyFile}" }`,
        '  stopGracePeriodSeconds: 1',
        '  healthCheck:',
        '    exec: { command: [sh, -c, "test -f \\"$READY_FILE\\""] }',
        '    intervalSeconds: 0.2',
        '    failureThreshold: 2',
        '',
      ].join('\n'),
    );
    const applied = await runBerth(['apply', '-f', manifest], { config: server.configPath });
    assert.equal(applied.code, 0, applied.stderr);
    const s = server;

    const ready = async (): Promise<number | undefined> => (await berthJson<Service>(s, 'get', 'service', 'probed')).status?.ready;
    await eventually(async () => (await ready()) === 1, 60_000, 'READY 1');
    const [first] = await listTasks(s);
    assert.ok(first);
    assert.equal(first.status.health, 'healthy');
    assert.equal(first.status.lastProbe?.ok, true);

    // The check starts failing: the agent stops the task and reports it failed.
    unlinkSync(readyFile);
    const failed = await eventually(
      async () => (await listTasks(s)).find((t) => t.id === first.id && t.status.state === 'failed'),
      60_000,
      'first task failed',
    );
    assert.equal(failed?.status.reason, 'Unhealthy');
    assert.equal(failed?.status.health, 'unhealthy');
    // (status.message may already be the orchestrator's "replaced by a newer task in the same slot".)
    assert.equal(failed?.status.lastProbe?.ok, false);
    assert.match(failed?.status.lastProbe?.message ?? '', /^exec .* -> exit code 1$/);

    // The orchestrator replaces it in the same slot; once the check passes again, READY is back.
    writeFileSync(readyFile, 'ok\n');
    const replacement = await eventually(
      async () =>
        (await listTasks(s)).find(
          (t: Task) => t.id !== first.id && t.slot === first.slot && t.status.state === 'running' && t.status.health === 'healthy',
        ),
      60_000,
      'a healthy replacement in the same slot',
    );
    assert.ok(replacement);
    await eventually(async () => (await ready()) === 1, 30_000, 'READY 1 again');
  });
});
