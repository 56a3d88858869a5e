import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAgentFlags, runAgent } from '../../agent/cli.js';
import type { Node } from '../../common/types.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki } from '../helpers/pki.js';

let TOKEN: string;

describe('berth agent (runAgent against a real dispatcher)', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let dispatcher: Dispatcher;
  let dir: string;
  const savedLevel = process.env.BERTH_LOG_LEVEL;

  before(async () => {
    process.env.BERTH_LOG_LEVEL = 'silent';
    t = await startTestEtcd();
    store = t.newStore();
    const pki = await testPki();
    TOKEN = pki.token();
    dispatcher = new Dispatcher({ store, logger: silentLogger, listen: '127.0.0.1:0', verifyJoinToken: (tok) => tok === TOKEN, tls: pki.tls });
    await dispatcher.start();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-agent-cli-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  after(async () => {
    await dispatcher?.stop();
    await t?.stop();
    if (savedLevel === undefined) delete process.env.BERTH_LOG_LEVEL;
    else process.env.BERTH_LOG_LEVEL = savedLevel;
  });

  const baseFlags = () => ['--server', `127.0.0.1:${dispatcher.port}`, '--runtime', 'process', '--data-dir', path.join(dir, 'data')];

  it('joins with a token file, registers the node as flagged, and exits 0 on SIGTERM', async () => {
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const exit = runAgent([...baseFlags(), '--token-file', tokenFile, '--name', 'cli-node', '--labels', 'zone=x, disk=ssd', '--cpu', '1500m', '--memory', '1Gi']);
    const node = await eventually(async () => {
      const nodes = await store.list<Node>(keys.nodes);
      return nodes.items.find((n) => n.name === 'cli-node' && n.status.state === 'ready');
    }, 15_000, 'node registered');
    assert.ok(node);
    assert.deepEqual(node.labels, { zone: 'x', disk: 'ssd' });
    assert.deepEqual(node.capacity, { cpu: 1500, memory: 1024 ** 3 });
    assert.equal(node.runtime, 'process');
    process.emit('SIGTERM');
    assert.equal(await exit, 0);
  });

  it('exits 1 when the server refuses the join token, writing no node', async () => {
    const before = await store.count(keys.nodes);
    assert.equal(await runAgent([...baseFlags(), '--token', 'wrong', '--name', 'refused']), 1);
    assert.equal(await store.count(keys.nodes), before);
  });

  it('refuses bad flags with exit code 1', async () => {
    assert.equal(await runAgent(['--token', TOKEN]), 1, 'missing --server');
    assert.equal(await runAgent([...baseFlags(), '--token', TOKEN, '--cpu', 'lots']), 1);
    assert.equal(await runAgent([...baseFlags(), '--token', TOKEN, '--bogus']), 1);
    assert.throws(() => parseAgentFlags(['--server', 'no-port', '--token', 'x']), /expected HOST:PORT/);
    assert.throws(() => parseAgentFlags(['--server', 'h:1', '--token', 'x', '--runtime', 'lxc']), /docker or process/);
    assert.throws(() => parseAgentFlags(['--server', 'h:1', '--token', 'x', '--labels', 'novalue']), /not key=value/);
    assert.throws(() => parseAgentFlags(['--server', 'h:1']), /join token is required/);
    assert.equal(parseAgentFlags(['--help']), undefined);
  });
});
