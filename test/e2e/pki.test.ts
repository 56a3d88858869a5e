// The cluster's PKI end to end: `berth server` makes its CA and a CA-pinning join token, a docker
// agent joins and keeps running its containers while its short-lived certificate is renewed, an
// agent refuses another cluster's server, a rotated join token refuses the old one, and a removed
// node's agent can no longer connect.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/etcd.js';
import { sleeperManifest } from '../helpers/manifest.js';
import { listNodes, ok, runBerth, spawnBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from '../helpers/berth.js';
import { containersOfNode, ensureTestImages, removeContainersOfNodes, testNodeName } from '../helpers/docker.js';

const mode = (file: string) => statSync(file).mode & 0o777;
const serialOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).serialNumber;

describe('e2e: cluster CA, join tokens, certificate rotation and revocation', function () {
  this.timeout(300_000);
  const dockerNode = testNodeName('pki');
  let server: TestServer | undefined;
  let other: TestServer | undefined;
  const agents: TestAgent[] = [];
  const dirs: string[] = [];
  const berth = (...args: string[]) => runBerth(args, { config: server!.configPath });

  before(async function () {
    this.timeout(120_000);
    await ensureTestImages();
    server = await startServer({ extraArgs: ['--node-cert-ttl', '15s', '--heartbeat-grace', '5', '--tls-san', 'berth.test'] });
  });
  after(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    await server?.stop();
    await other?.stop();
    await removeContainersOfNodes([dockerNode]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('makes the CA, the server certificate and a join token that pins the CA', () => {
    const d = server!.dataDir;
    for (const f of ['ca.key', 'server.key', 'join-token', 'manager-token', 'admin-token']) assert.equal(mode(path.join(d, f)), 0o600, f);
    const ca = new X509Certificate(readFileSync(path.join(d, 'ca.crt')));
    const digest = createHash('sha256').update(ca.raw).digest('hex');
    assert.match(readFileSync(path.join(d, 'join-token'), 'utf8').trim(), new RegExp(`^BERTH-1-${digest}-[A-Za-z0-9_-]+$`));
    const serverCert = new X509Certificate(readFileSync(path.join(d, 'server.crt')));
    assert.ok(serverCert.verify(ca.publicKey));
    assert.match(serverCert.subjectAltName ?? '', /DNS:berth\.test/);
    assert.match(serverCert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  });

  it('renews a node certificate during a run: the session goes on, no container restarts', async () => {
    const agent = startAgent(server!, { name: dockerNode, runtime: 'docker' });
    agents.push(agent);
    await waitNodesReady(server!, [agent]);
    const certFile = path.join(agent.dataDir, 'node.crt');
    assert.equal(mode(path.join(agent.dataDir, 'node.key')), 0o600);
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: sleeperManifest('pki-sleeper', { replicas: 2, memory: '16Mi', stopGracePeriodSeconds: 1 }) }));
    const containers = await eventually(async () => {
      const running = await containersOfNode(dockerNode, { running: true });
      return running.length === 2 ? running.sort() : undefined;
    }, 120_000, `two containers; agent said:\n${agent.logTail()}`);

    const serials = new Set([serialOf(certFile)]);
    const states = new Set<string>();
    const until = Date.now() + 32_000; // 15 s certificates, renewed every 10 s
    while (Date.now() < until) {
      serials.add(serialOf(certFile));
      for (const n of await listNodes(server!)) if (n.name === dockerNode) states.add(n.status.state);
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(serials.size >= 3, `at least two renewals, saw ${serials.size - 1}; agent said:\n${agent.logTail()}`);
    assert.deepEqual([...states], ['ready'], 'the node was never seen down');
    assert.deepEqual((await containersOfNode(dockerNode, { running: true })).sort(), containers, 'the same containers run');
    assert.deepEqual((await containersOfNode(dockerNode)).sort(), containers, 'and no other was made');
  });

  it('an agent given a token of another cluster refuses to join its server, and says why', async () => {
    other = await startServer();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-agent-pin-'));
    dirs.push(dataDir);
    const a = spawnBerth(['agent', '--server', `127.0.0.1:${other.agentPort}`, '--token-file', path.join(server!.dataDir, 'join-token'),
      '--name', 'impostor-victim', '--runtime', 'process', '--data-dir', dataDir]);
    const exit = await Promise.race([a.exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (exit === 'timeout') await a.stop('SIGKILL');
    assert.notEqual(exit, 'timeout', 'the agent gives up');
    assert.equal((exit as { code: number }).code, 1);
    assert.match(a.stderr(), /refusing to join .*expects the cluster CA with SHA-256 [0-9a-f]{64}, but the server presented .*[0-9a-f]{64}/);
    assert.deepEqual(await listNodes(other), [], 'nothing registered on the other server');
  });

  it('berth token rotate join: the old token is refused, joined nodes stay, the new one joins', async () => {
    const oldToken = readFileSync(path.join(server!.dataDir, 'join-token'), 'utf8').trim();
    const r = ok(await berth('token', 'rotate', 'join'));
    const newToken = r.stdout.trim();
    assert.match(newToken, /^BERTH-1-[0-9a-f]{64}-/);
    assert.notEqual(newToken, oldToken);
    assert.equal(readFileSync(path.join(server!.dataDir, 'join-token'), 'utf8').trim(), newToken);

    const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-agent-old-'));
    dirs.push(dataDir);
    const stale = spawnBerth(['agent', '--server', `127.0.0.1:${server!.agentPort}`, '--token', oldToken, '--name', 'late-node', '--runtime', 'process', '--data-dir', dataDir]);
    assert.equal((await stale.exit).code, 1);
    assert.match(stale.stderr(), /invalid join token/);
    assert.equal(stale.stderr().includes(oldToken), false, 'the token is not echoed');
    assert.equal((await listNodes(server!)).find((n) => n.name === dockerNode)?.status.state, 'ready', 'the joined node is not affected');

    const fresh = startAgent(server!, { name: 'late-node' });
    agents.push(fresh);
    await waitNodesReady(server!, [fresh]);
  });

  it('berth node rm revokes the node: its agent can no longer connect', async () => {
    const agent = startAgent(server!, { name: 'doomed-node' });
    agents.push(agent);
    await waitNodesReady(server!, [agent]);
    await agent.stop({ keepDataDir: true });
    dirs.push(agent.dataDir);
    await eventually(async () => (await listNodes(server!)).find((n) => n.name === 'doomed-node')?.status.state === 'down', 30_000, 'node down');
    ok(await berth('node', 'rm', 'doomed-node'));

    const back = spawnBerth(['agent', '--server', `127.0.0.1:${server!.agentPort}`, '--name', 'doomed-node', '--runtime', 'process', '--data-dir', agent.dataDir]);
    const exit = await Promise.race([back.exit, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (exit === 'timeout') await back.stop('SIGKILL');
    assert.notEqual(exit, 'timeout', `the agent gives up; it said:\n${back.stderr()}`);
    assert.equal((exit as { code: number }).code, 1);
    assert.match(back.stderr(), /removed from the cluster: its certificates are revoked/);
    assert.equal((await listNodes(server!)).some((n) => n.name === 'doomed-node'), false, 'the node did not come back');
  });
});
