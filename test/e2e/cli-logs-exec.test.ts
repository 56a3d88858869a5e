// `berth logs` and `berth exec` as a user sees them: a real server, a docker-runtime agent and
// busybox containers; the lines travel container -> Engine -> agent -> gRPC session ->
// dispatcher -> API (NDJSON) -> CLI.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { docker, ensureTestImages, removeContainersOfNode, testNodeName } from '../helpers/docker.js';
import { eventually } from '../helpers/etcd.js';
import { ok, runBerth, spawnBerth, startAgent, startServer, type BerthDaemon, type TestAgent, type TestServer } from '../helpers/berth.js';
import { ExitCode } from '../../cli/exit-codes.js';

// Writes one line to each stream, then a numbered line to stdout every 0.3 s.
const TALKER = `apiVersion: berth/v1
kind: Service
metadata:
  name: talker
spec:
  image: berth/busybox:latest
  command: ["sh", "-c", "echo out-$HOSTNAME; echo err-$HOSTNAME >&2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done"]
  replicas: 2
  restartPolicy:
    condition: any
    delaySeconds: 0.5
  resources:
    cpu: 50m
    memory: 16Mi
`;

describe('e2e: berth logs and exec through a docker agent', function () {
  this.timeout(180_000);
  let server: TestServer;
  let agent: TestAgent | undefined;
  const node = testNodeName('logs');
  const followers: BerthDaemon[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });
  const runningTasks = async (): Promise<Task[]> =>
    (JSON.parse(ok(await berth('get', 'tasks', '--service', 'talker', '-o', 'json')).stdout) as { items: Task[] }).items.filter(
      (t) => t.status.state === 'running' && t.desiredState === 'running',
    );
  const taskOfSlot = async (slot: number): Promise<Task> =>
    (await eventually(async () => (await runningTasks()).find((t) => t.slot === slot), 60_000, `a running task in slot ${slot}`))!;

  before(async () => {
    await ensureTestImages();
    server = await startServer();
    agent = startAgent(server, { name: node, runtime: 'docker' });
    await eventually(async () => new RegExp(`^${node} +ready `, 'm').test((await berth('get', 'nodes')).stdout), 30_000, `${node} ready`);
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: TALKER }));
    await eventually(async () => (await runningTasks()).length === 2, 60_000, 'two talker tasks running');
  });

  after(async () => {
    for (const f of followers) await f.stop('SIGKILL');
    if (server) await berth('delete', 'service', 'talker').catch(() => undefined);
    await agent?.stop();
    await removeContainersOfNode(node);
    await server?.stop();
  });

  it('logs TASK prints stdout on stdout and stderr on stderr; --tail keeps the last lines', async () => {
    const task = await taskOfSlot(1);
    await eventually(async () => /tick-3/.test((await berth('logs', task.name)).stdout), 20_000, 'a few ticks');
    const r = ok(await berth('logs', task.name));
    const host = task.status.containerId!.slice(0, 12);
    assert.match(r.stdout, new RegExp(`^out-${host}\ntick-1\ntick-2\n`));
    assert.doesNotMatch(r.stdout, /err-/);
    assert.equal(r.stderr, `err-${host}\n`);

    const tail = ok(await berth('logs', '--tail', '2', task.id.slice(0, 8)));
    const lines = tail.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, tail.stdout);
    assert.ok(lines.every((l) => /^tick-\d+$/.test(l)), tail.stdout);

    const stamped = ok(await berth('logs', '--timestamps', '--tail', '1', task.name)).stdout;
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick-\d+\n$/);
    assert.equal(ok(await berth('logs', '--since', '1h', task.name)).stdout.split('\n')[0], `out-${host}`);
  });

  it('logs service/NAME prefixes every line with its task', async () => {
    const tasks = await runningTasks();
    const r = ok(await berth('logs', 'service/talker', '--tail', '1'));
    for (const t of tasks) assert.match(r.stdout, new RegExp(`^${t.name.replace(/\./g, '\\.')} \\| tick-\\d+$`, 'm'));
    assert.equal(r.stdout.trimEnd().split('\n').length, tasks.length, r.stdout);
  });

  it('logs -f keeps printing, follows the slot across a restart, and Ctrl-C ends it with 0', async () => {
    const first = await taskOfSlot(2);
    const follower = spawnBerth(['--config', server.configPath, 'logs', '-f', '--tail', '1', first.name]);
    followers.push(follower);
    await eventually(() => (follower.stdout().match(/tick-/g) ?? []).length >= 3, 20_000, `new ticks in logs -f; got ${follower.stdout()}`);

    await docker('kill', first.status.containerId!);
    const next = (await eventually(async () => (await runningTasks()).find((t) => t.slot === 2 && t.id !== first.id), 60_000, 'a new task in slot 2'))!;
    const nextHost = next.status.containerId!.slice(0, 12);
    // The new container's first lines arrive in the same stream: stdout and stderr apart.
    await eventually(() => follower.stdout().includes(`out-${nextHost}\n`) && follower.stderr().includes(`err-${nextHost}\n`), 30_000,
      `the new task's output in logs -f; stdout: ${follower.stdout()} stderr: ${follower.stderr()}`);
    assert.match(follower.stderr(), new RegExp(`${first.name.replace(/\./g, '\\.')} ended; following ${next.name.replace(/\./g, '\\.')}`));
    const after = follower.stdout().slice(follower.stdout().indexOf(`out-${nextHost}`));
    await eventually(() => /tick-2\n/.test(follower.stdout().slice(follower.stdout().indexOf(`out-${nextHost}`))), 20_000, `ticks of the new task after ${after}`);

    const exit = await follower.stop('SIGINT');
    assert.equal(exit.code, 0, follower.stderr());
  });

  it('exec runs the command in the container: output, then its exit code', async () => {
    const task = await taskOfSlot(1);
    const r = await berth('exec', task.name, '--', 'sh', '-c', 'echo hi; echo oops >&2; cat /etc/hostname; exit 3');
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, `hi\n${task.status.containerId!.slice(0, 12)}\n`);
    assert.equal(r.stderr, 'oops\n');
    assert.equal(ok(await berth('exec', task.name, '--', 'true')).stdout, '');
  });

  it('logs -f goes on, with no line lost or repeated, when the agent is killed and comes back within the grace', async () => {
    const task = await taskOfSlot(1);
    const follower = spawnBerth(['--config', server.configPath, 'logs', '-f', '--tail', '1', task.name]);
    const ofService = spawnBerth(['--config', server.configPath, 'logs', '-f', '--tail', '1', 'service/talker']);
    followers.push(follower, ofService);
    const ticks = () => [...follower.stdout().matchAll(/^tick-(\d+)$/gm)].map((m) => Number(m[1]));
    // service/NAME prefixes each line with its task: the same task's ticks, from the other follower.
    const prefix = `${task.name} `;
    const serviceTicks = () => ofService.stdout().split('\n').filter((l) => l.startsWith(prefix) && /tick-\d+$/.test(l)).map((l) => Number(/tick-(\d+)$/.exec(l)![1]));
    await eventually(() => ticks().length >= 3 && serviceTicks().length >= 3, 20_000, `ticks in logs -f; got ${follower.stdout()} and ${ofService.stdout()}`);

    // The agent dies; its containers keep running. A new agent on the same data dir adopts them.
    const dataDir = agent!.dataDir;
    await agent!.stop({ signal: 'SIGKILL', keepDataDir: true });
    const before = ticks().length;
    agent = startAgent(server, { name: node, runtime: 'docker', dataDir });
    await eventually(() => /its node is back; resuming/.test(follower.stderr()), 30_000, `the resume notice; stderr: ${follower.stderr()}`);
    await eventually(() => ticks().length >= before + 8, 20_000, `ticks after the agent came back; got ${follower.stdout()}`);
    await eventually(() => serviceTicks().length >= before + 8, 20_000, `service/talker goes on too; got ${ofService.stdout()} ${ofService.stderr()}`);
    for (const seen of [ticks(), serviceTicks()]) {
      for (let i = 1; i < seen.length; i++) assert.equal(seen[i], seen[i - 1]! + 1, `consecutive ticks, none lost or repeated: ${seen.join(',')}`);
    }
    assert.equal((await runningTasks()).find((t) => t.slot === 1)?.id, task.id, 'the same task all along');

    for (const f of [follower, ofService]) {
      const exit = await f.stop('SIGINT');
      assert.equal(exit.code, 0, f.stderr());
    }
  });

  it('exec and logs of a missing task exit with the not-found code', async () => {
    const e = await berth('exec', 'no-such-task', '--', 'true');
    assert.equal(e.code, ExitCode.NotFound, e.stderr);
    assert.match(e.stderr, /^error: .*no-such-task/m);
    const l = await berth('logs', 'no-such-task');
    assert.equal(l.code, ExitCode.NotFound, l.stderr);
  });
});
