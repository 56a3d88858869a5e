// TLS for the API, against a real `berth server`: it serves HTTPS only, with a certificate of the
// cluster CA (api.crt, key 0600) for its names; plain HTTP gets no answer; a client trusting
// another CA refuses it; the CLI with the berth.yaml the server wrote (which carries the CA)
// works with no extra flag, `get -w` included (wss://); a config holding another cluster's CA is
// refused with a line that says so.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { tlsVerifyCode } from '../../cli/tls.js';
import { caFetch } from '../helpers/api-fetch.js';
import { ok, runBerth, spawnBerth, startServer, type BerthDaemon, type TestServer } from '../helpers/berth.js';
import { eventually } from '../helpers/etcd.js';
import { testPki } from '../helpers/pki.js';

const service = (name: string) => `apiVersion: berth/v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  image: berth/none:1\n  replicas: 0\n`;

/** What a plaintext HTTP request to `port` gets back, as text (empty when the server just closes). */
function plainHttp(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

describe('e2e: TLS for the API', function () {
  this.timeout(120_000);
  let server: TestServer;
  let watcher: BerthDaemon | undefined;
  let dir: string;
  const berth = (...args: string[]) => runBerth(args, { config: server.configPath });

  before(async () => {
    server = await startServer();
    dir = mkdtempSync(path.join(tmpdir(), 'berth-api-tls-'));
  });

  after(async () => {
    await watcher?.stop('SIGKILL');
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves a certificate of the cluster CA for its names, key 0600; berth.yaml names https:// and carries the CA', () => {
    const caPem = readFileSync(path.join(server.dataDir, 'ca.crt'), 'utf8');
    const cert = new X509Certificate(readFileSync(path.join(server.dataDir, 'api.crt')));
    assert.ok(cert.verify(new X509Certificate(caPem).publicKey), 'api.crt is signed by the cluster CA');
    for (const name of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']) assert.ok(cert.subjectAltName?.includes(name), `${name} in ${cert.subjectAltName}`);
    assert.equal(statSync(path.join(server.dataDir, 'api.key')).mode & 0o777, 0o600);

    const cfg = parseYaml(readFileSync(server.configPath, 'utf8')) as Record<string, string>;
    assert.match(cfg.server ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(Buffer.from(cfg['certificate-authority-data'] ?? '', 'base64').toString('utf8'), caPem);
  });

  it('refuses plain HTTP: no HTTP answer, fetch fails; a client trusting another CA refuses the server', async () => {
    const port = Number(new URL(server.url).port);
    assert.equal(await plainHttp(port), '', 'nothing answered as HTTP');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(10_000) }), (err: Error) => err.name !== 'TimeoutError');
    assert.equal((await server.fetch(`${server.url}/healthz`)).status, 200, 'HTTPS with the cluster CA answers');

    const other = await testPki();
    await assert.rejects(caFetch(other.ca.certPem)(`${server.url}/healthz`), (err: Error) => {
      assert.ok(tlsVerifyCode(err), `a verification failure: ${String((err as { cause?: unknown }).cause)}`);
      return true;
    });
    // Verified with the system's roots only (no CA given), the cluster CA is unknown too.
    await assert.rejects(fetch(`${server.url}/healthz`), (err: Error) => !!tlsVerifyCode(err));
  });

  it('the CLI with the written berth.yaml works with no extra flag, get -w over wss:// too', async () => {
    assert.equal(ok(await berth('get', 'services')).stderr, 'No services found.\n');
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: service('tls-first') }));
    watcher = spawnBerth(['get', 'services', '-w', '--config', server.configPath]);
    const w = watcher;
    await eventually(() => /^tls-first\b/m.test(w.stdout()), 30_000, `the watch's first table; got:\n${w.stdout()}${w.stderr()}`);
    ok(await runBerth(['apply', '-f', '-'], { config: server.configPath, input: service('tls-web') }));
    await eventually(() => /^tls-web\b/m.test(w.stdout()), 30_000, `tls-web in the watch; got:\n${w.stdout()}${w.stderr()}`);
    assert.doesNotMatch(w.stderr(), /connection lost|error/, w.stderr());
    await w.stop('SIGINT');
    watcher = undefined;
    assert.match(ok(await berth('get', 'services', '-o', 'name')).stdout, /^service\/tls-web$/m);

    // Reached by another of its names: localhost is in the certificate.
    const port = new URL(server.url).port;
    assert.match(ok(await berth('get', 'services', '-o', 'name', '--server', `https://localhost:${port}`)).stdout, /service\/tls-web/);
  });

  it("a config holding another cluster's CA is refused: the line names the URL and the CA", async () => {
    const other = await testPki();
    const cfg = parseYaml(readFileSync(server.configPath, 'utf8')) as Record<string, string>;
    const foreign = path.join(dir, 'foreign.yaml');
    writeFileSync(foreign, toYaml({ ...cfg, 'certificate-authority-data': Buffer.from(other.ca.certPem).toString('base64') }), { mode: 0o600 });
    const r = await runBerth(['get', 'services'], { config: foreign });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `error: cannot verify the server at ${server.url}: its certificate is not signed by the configured CA (certificate-authority-data of ${foreign}) [CERT_SIGNATURE_FAILURE]\n`,
    );

    const watch = await runBerth(['get', 'services', '-w'], { config: foreign, timeoutMs: 30_000 });
    assert.equal(watch.code, 3, watch.stderr);
    assert.match(watch.stderr, /^error: cannot verify the server at .*: its certificate is not signed by the configured CA/);
  });

  it('a config without the CA: a clear error, then --certificate-authority or $BERTH_CA_FILE; an http:// URL is told to use https://', async () => {
    const cfg = parseYaml(readFileSync(server.configPath, 'utf8')) as Record<string, string>;
    const bare = path.join(dir, 'bare.yaml');
    writeFileSync(bare, toYaml({ server: cfg.server, token: cfg.token }), { mode: 0o600 });
    const r = await runBerth(['get', 'services'], { config: bare });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^error: cannot verify the server at https:\/\/127\.0\.0\.1:\d+: its certificate is not signed by a CA this client trusts \(the config has no certificate-authority-data: pass --certificate-authority FILE or set \$BERTH_CA_FILE to the server's ca\.crt\) \[\w+\]\n$/);

    const caFile = path.join(server.dataDir, 'ca.crt');
    assert.match(ok(await runBerth(['get', 'services', '-o', 'name', '--certificate-authority', caFile], { config: bare })).stdout, /service\/tls-web/);
    assert.match(ok(await runBerth(['get', 'services', '-o', 'name'], { config: bare, env: { BERTH_CA_FILE: caFile } })).stdout, /service\/tls-web/);

    const plain = await runBerth(['get', 'services', '--server', server.url.replace('https:', 'http:')], { config: bare });
    assert.equal(plain.code, 3, plain.stderr);
    assert.match(plain.stderr, /^error: cannot reach the server at http:\/\/.*\(the API serves HTTPS only: use https:\/\/\)\n$/);
  });
});
