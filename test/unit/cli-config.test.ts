import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfigFile, resolveConfig } from '../../cli/config.js';
import { mergeConfig, serializeConfig, setContext } from '../../cli/contexts.js';
import { tlsVerifyMessage } from '../../cli/tls.js';
import { runCli, type Recorded } from '../helpers/berth.js';

describe('cli config', () => {
  let dir: string;
  let home: string;
  const write = (name: string, server: string, token: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, `server: ${server}\ntoken: ${token}\n`);
    return p;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-config-'));
    home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.berth'), { recursive: true });
    writeFileSync(path.join(home, '.berth', 'config'), 'server: http://home:7070\ntoken: home-token\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('precedence: --config, then $BERTH_CONFIG, then ~/.berth/config', () => {
    const flagFile = write('flag.yaml', 'http://flag:7070', 'flag-token');
    const envFile = write('env.yaml', 'http://env:7070', 'env-token');
    const env = { BERTH_CONFIG: envFile };
    assert.deepEqual(resolveConfig({ flags: { config: flagFile }, env, homeDir: home }), {
      server: 'http://flag:7070',
      token: 'flag-token',
      tokenSource: flagFile,
      path: flagFile,
    });
    assert.equal(resolveConfig({ flags: {}, env, homeDir: home }).server, 'http://env:7070');
    const fromHome = resolveConfig({ flags: {}, env: {}, homeDir: home });
    assert.equal(fromHome.server, 'http://home:7070');
    assert.equal(fromHome.token, 'home-token');
  });

  it('--server and --token override whatever the file says, each on its own', () => {
    const onlyServer = resolveConfig({ flags: { server: 'http://other:1234/' }, env: {}, homeDir: home });
    assert.equal(onlyServer.server, 'http://other:1234', 'trailing slash dropped');
    assert.equal(onlyServer.token, 'home-token');
    const onlyToken = resolveConfig({ flags: { token: 'T' }, env: {}, homeDir: home });
    assert.deepEqual([onlyToken.server, onlyToken.token], ['http://home:7070', 'T']);
  });

  it('flags alone are enough when there is no config file; nothing at all is a clear error', () => {
    const bare = path.join(dir, 'empty-home');
    assert.deepEqual(resolveConfig({ flags: { server: 'http://s:1', token: 't' }, env: {}, homeDir: bare }), {
      server: 'http://s:1',
      token: 't',
      tokenSource: '--token',
    });
    assert.throws(() => resolveConfig({ flags: {}, env: {}, homeDir: bare }), /no server configured: pass --server URL/);
  });

  it('a config file that was named but is missing or malformed is an error naming the file', () => {
    const missing = path.join(dir, 'nope.yaml');
    assert.throws(
      () => resolveConfig({ flags: {}, env: { BERTH_CONFIG: missing }, homeDir: home }),
      new RegExp(`cannot read config file ${missing} \\(from \\$BERTH_CONFIG\\): no such file`),
    );
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'server: [unclosed\n');
    assert.throws(() => resolveConfig({ flags: { config: bad }, env: {}, homeDir: home }), /bad\.yaml: not valid YAML/);
    writeFileSync(bad, 'server: ftp://x\n');
    assert.throws(() => resolveConfig({ flags: { config: bad }, env: {}, homeDir: home }), /server: "ftp:\/\/x" must start with http/);
    writeFileSync(bad, 'token: 12\nserver: http://x\n');
    assert.throws(() => resolveConfig({ flags: { config: bad }, env: {}, homeDir: home }), /bad\.yaml: token: must be a string/);
  });

  it('reads the contexts format too, choosing current-context', () => {
    const file = parseConfigFile(
      [
        'current-context: prod',
        'contexts:',
        '  - { name: dev, server: "http://dev:7070", token: d }',
        '  - { name: prod, server: "http://prod:7070", token: p }',
      ].join('\n'),
      'c.yaml',
    );
    assert.equal(file.currentContext, 'prod');
    assert.deepEqual(Object.keys(file.contexts), ['dev', 'prod']);
    const p = path.join(dir, 'ctx.yaml');
    writeFileSync(p, 'current-context: prod\ncontexts:\n  - { name: prod, server: "http://prod:7070", token: p }\n');
    assert.deepEqual(resolveConfig({ flags: { config: p }, env: {}, homeDir: home }), {
      server: 'http://prod:7070',
      token: 'p',
      tokenSource: `${p} (context "prod")`,
      path: p,
      context: 'prod',
    });
  });

  it('the client sends the token of the config that applies', async () => {
    const log: Recorded[] = [];
    const envFile = write('env.yaml', 'http://env:7070', 'env-token');
    const r = await runCli(['get', 'nodes', '--token', 'flag-token'], {
      flags: false,
      log,
      io: { env: { BERTH_CONFIG: envFile }, homeDir: home },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([log[0]?.path, log[0]?.auth], ['/v1/nodes', 'Bearer flag-token']);
    const viaEnv = await runCli(['get', 'nodes'], { flags: false, log, io: { env: { BERTH_CONFIG: envFile }, homeDir: home } });
    assert.equal(viaEnv.code, 0);
    assert.equal(log[1]?.auth, 'Bearer env-token');
  });
  it("the CA: --certificate-authority, else the context's certificate-authority-data, else $BERTH_CA_FILE", () => {
    const pem = (n: string) => `-----BEGIN CERTIFICATE-----\n${n}\n-----END CERTIFICATE-----\n`;
    const withCa = path.join(dir, 'with-ca.yaml');
    writeFileSync(withCa, `server: https://a:7070\ntoken: t\ncertificate-authority-data: ${Buffer.from(pem('FILE')).toString('base64')}\n`);
    const flagCa = path.join(dir, 'flag-ca.crt');
    writeFileSync(flagCa, pem('FLAG'));
    const envCa = path.join(dir, 'env-ca.crt');
    writeFileSync(envCa, pem('ENV'));
    const env = { BERTH_CA_FILE: envCa };
    const fromFile = resolveConfig({ flags: { config: withCa }, env, homeDir: home });
    assert.deepEqual([fromFile.ca, fromFile.caSource], [pem('FILE'), `certificate-authority-data of ${withCa}`]);
    const fromFlag = resolveConfig({ flags: { config: withCa, certificateAuthority: flagCa }, env, homeDir: home });
    assert.deepEqual([fromFlag.ca, fromFlag.caSource], [pem('FLAG'), `--certificate-authority ${flagCa}`]);
    const fromEnv = resolveConfig({ flags: { config: write('bare.yaml', 'https://b:7070', 't') }, env, homeDir: home });
    assert.deepEqual([fromEnv.ca, fromEnv.caSource], [pem('ENV'), `$BERTH_CA_FILE (${envCa})`]);
    assert.equal(resolveConfig({ flags: { config: withCa.replace('with-ca', 'bare') }, env: {}, homeDir: home }).ca, undefined);

    assert.throws(() => resolveConfig({ flags: { config: withCa, certificateAuthority: path.join(dir, 'none.crt') }, env: {}, homeDir: home }), /cannot read the CA certificate .*none\.crt \(from --certificate-authority\): no such file/);
    writeFileSync(withCa, 'server: https://a:7070\ncertificate-authority-data: bm90IGEgcGVt\n');
    assert.throws(() => resolveConfig({ flags: { config: withCa }, env: {}, homeDir: home }), /certificate-authority-data: not the base64 of a PEM certificate/);
  });

  it('certificate-authority-data survives merging and writing contexts', () => {
    const flat = parseConfigFile('server: https://a:7070\ntoken: t\ncertificate-authority-data: QUJD\n', 'berth.yaml');
    const { file } = mergeConfig({ contexts: {} }, flat, { flat: true });
    assert.match(serializeConfig(file), /name: a:7070\n {4}server: https:\/\/a:7070\n {4}token: t\n {4}certificate-authority-data: QUJD\n/);
    assert.equal(parseConfigFile(serializeConfig(file), 'x').contexts['a:7070']?.caData, 'QUJD');
    // set-context keeps the CA unless given another (--certificate-authority).
    assert.equal(setContext(file, 'a:7070', { token: 'u' }).file.contexts['a:7070']?.caData, 'QUJD');
    assert.equal(setContext(file, 'a:7070', { caData: 'REVG' }).file.contexts['a:7070']?.caData, 'REVG');
  });

  it('a certificate that fails verification is told as such, naming the URL and the CA', () => {
    assert.equal(
      tlsVerifyMessage('https://a:7070', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', '--certificate-authority ca.crt'),
      'cannot verify the server at https://a:7070: its certificate is not signed by the configured CA (--certificate-authority ca.crt) [UNABLE_TO_VERIFY_LEAF_SIGNATURE]',
    );
    assert.match(tlsVerifyMessage('https://a:7070', 'SELF_SIGNED_CERT_IN_CHAIN', undefined), /pass --certificate-authority FILE or set \$BERTH_CA_FILE/);
    assert.match(tlsVerifyMessage('https://a:7070', 'ERR_TLS_CERT_ALTNAME_INVALID', undefined), /does not name this host \(add it with the server's --tls-san\)/);
  });
});
