import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfigFile, resolveConfig } from '../../cli/config.js';
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
});
