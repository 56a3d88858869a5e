// `rollout status` follows a rollout as it changes: a server with no node, so a new service's
// rollout waits (its tasks stay pending) until the test changes it.
import assert from 'node:assert/strict';
import { ExitCode } from '../../cli/exit-codes.js';
import { ok, runBerth, spawnBerth, startServer, type BerthDaemon, type TestServer } from '../helpers/berth.js';
import { eventually } from '../helpers/etcd.js';

const manifest = (name: string) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  image: berth/web:latest\n  replicas: 2\n`;

describe('e2e: rollout status follows the rollout until it ends', function () {
  this.timeout(120_000);
  let server: TestServer;
  const followers: BerthDaemon[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    for (const f of followers) await f.stop('SIGKILL');
    await server?.stop();
  });

  const follow = async (name: string): Promise<BerthDaemon> => {
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: manifest(name) }));
    const f = spawnBerth(['--config', server.configPath, 'rollout', 'status', 'service', name, '--timeout', '1m']);
    followers.push(f);
    await eventually(() => /available 0\/2 \(updating: /.test(f.stdout()), 20_000, `the first progress line; got ${f.stdout()} ${f.stderr()}`);
    return f;
  };

  it('exits 0 as soon as the rollout completes (scaled to 0, nothing left to roll out)', async () => {
    const f = await follow('waits');
    ok(await berth('scale', 'service', 'waits', '--replicas', '0'));
    const exit = await f.exit;
    assert.equal(exit.code, 0, `${f.stdout()}\n${f.stderr()}`);
    assert.match(f.stdout(), /updated 0\/0, available 0\/0 \(completed: /);
  });

  it('exits with the not-found code when the service is deleted meanwhile', async () => {
    const f = await follow('goes');
    ok(await berth('delete', 'service', 'goes'));
    const exit = await f.exit;
    assert.equal(exit.code, ExitCode.NotFound, `${f.stdout()}\n${f.stderr()}`);
    assert.match(f.stderr(), /goes/);
  });
});
