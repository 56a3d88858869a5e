import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfigFile, resolveConfig } from '../../cli/config.js';
import { deleteContext, mergeConfig, readForEdit, redact, setContext, useContext, writeConfig } from '../../cli/contexts.js';
import { runCli, type Recorded } from '../helpers/berth.js';

describe('cli config contexts', () => {
  let dir: string;
  let cfg: string;
  const berth = (args: string[], log?: Recorded[]) =>
    runCli(['--config', cfg, ...args], { flags: false, ...(log ? { log } : {}), io: { env: {}, homeDir: path.join(dir, 'home') } });

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-contexts-'));
    cfg = path.join(dir, 'config');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('pure operations: set (first becomes current), use, delete, merge, redact', () => {
    let { file, created } = setContext({ contexts: {} }, 'dev', { server: 'http://dev:1', token: 'd' });
    assert.equal(created, true);
    assert.equal(file.currentContext, 'dev');
    ({ file } = setContext(file, 'prod', { server: 'http://prod:1' }));
    assert.equal(file.currentContext, 'dev', 'a second context does not take over');
    ({ file, created } = setContext(file, 'prod', { token: 'p' }));
    assert.equal(created, false);
    assert.deepEqual(file.contexts.prod, { server: 'http://prod:1', token: 'p' }, 'an update keeps the server');
    assert.throws(() => setContext(file, 'new', { token: 'x' }), /context "new" is new: --server URL is required/);
    file = useContext(file, 'prod', 'cfg');
    assert.equal(file.currentContext, 'prod');
    assert.throws(() => useContext(file, 'prd', 'cfg'), /no context "prd" in cfg: did you mean "prod"\? \(contexts: dev, prod\)/);
    const del = deleteContext(file, 'prod', 'cfg');
    assert.equal(del.wasCurrent, true);
    assert.equal(del.file.currentContext, undefined);
    const merged = mergeConfig(del.file, { contexts: { default: { server: 'http://10.0.0.1:7070', token: 't' } } }, { flat: true });
    assert.deepEqual(merged.merged, ['10.0.0.1:7070']);
    assert.equal(merged.file.currentContext, '10.0.0.1:7070', 'a file without a current context gets the merged one');
    assert.equal(redact(merged.file).contexts['10.0.0.1:7070']?.token, 'REDACTED');
  });

  it('writes the contexts form with mode 0600 and reads it back', () => {
    writeConfig(cfg, { contexts: { a: { server: 'http://a:1', token: 's3cret' } }, currentContext: 'a' });
    assert.equal(statSync(cfg).mode & 0o777, 0o600);
    assert.deepEqual(readForEdit(cfg), parseConfigFile(readFileSync(cfg, 'utf8'), cfg));
    assert.deepEqual(readForEdit(cfg), { contexts: { a: { server: 'http://a:1', token: 's3cret' } }, currentContext: 'a' });
    assert.deepEqual(readForEdit(path.join(dir, 'missing')), { contexts: {} });
  });

  it('set-context, get-contexts, use-context, current-context and --context through the CLI', async () => {
    assert.equal((await berth(['config', 'set-context', 'dev', '--server', 'http://dev.test:1', '--token', 'dev-t'])).stdout, 'context "dev" created (current)\n');
    writeFileSync(path.join(dir, 'tok'), 'prod-t\n');
    const prod = await berth(['config', 'set-context', 'prod', '--server', 'http://prod.test:2', '--token-file', path.join(dir, 'tok')]);
    assert.equal(prod.stdout, 'context "prod" created\n');
    assert.equal(statSync(cfg).mode & 0o777, 0o600);
    const list = await berth(['config', 'get-contexts']);
    assert.equal(list.stdout, 'CURRENT   NAME   SERVER\n*         dev    http://dev.test:1\n          prod   http://prod.test:2\n');
    assert.equal((await berth(['config', 'get-contexts', '-o', 'name'])).stdout, 'dev\nprod\n');
    assert.equal((await berth(['config', 'current-context'])).stdout, 'dev\n');
    assert.equal((await berth(['config', 'use-context', 'prod'])).stdout, 'switched to context "prod"\n');
    assert.equal((await berth(['config', 'current-context'])).stdout, 'prod\n');

    const log: Recorded[] = [];
    assert.equal((await berth(['get', 'nodes'], log)).code, 0);
    assert.equal((await berth(['get', 'nodes', '--context', 'dev'], log)).code, 0);
    assert.deepEqual(log.map((l) => l.auth), ['Bearer prod-t', 'Bearer dev-t'], 'current context, then --context');

    const wrong = await berth(['get', 'nodes', '--context', 'dve']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^error: .*--context "dve" is not among contexts: did you mean "dev"\? \(contexts: dev, prod\)\n$/);
  });

  it('view redacts tokens unless --raw; delete-context warns when it removes the current one', async () => {
    await berth(['config', 'set-context', 'dev', '--server', 'http://dev.test:1', '--token', 'dev-t']);
    const view = await berth(['config', 'view']);
    assert.equal(view.stdout, 'current-context: dev\ncontexts:\n  - name: dev\n    server: http://dev.test:1\n    token: REDACTED\n');
    assert.match((await berth(['config', 'view', '--raw'])).stdout, /token: dev-t/);
    const del = await berth(['config', 'delete-context', 'dev']);
    assert.equal(del.code, 0);
    assert.match(del.stderr, /was the current context/);
    assert.equal((await berth(['config', 'current-context'])).code, 1);
  });

  it("a flat file keeps working and becomes the context default when first written; merge adds a server's berth.yaml", async () => {
    writeFileSync(cfg, 'server: http://flat.test:1\ntoken: flat-t\n');
    assert.equal(resolveConfig({ flags: { config: cfg }, env: {}, homeDir: dir }).token, 'flat-t');
    assert.equal((await berth(['config', 'current-context'])).stdout, 'default\n');
    const serverFile = path.join(dir, 'berth.yaml');
    writeFileSync(serverFile, 'server: http://127.0.0.1:7070\ntoken: server-t\n');
    const merged = await berth(['config', 'merge', serverFile, '--name', 'lab']);
    assert.equal(merged.stdout, `context "lab" merged from ${serverFile}\n`);
    assert.deepEqual(readForEdit(cfg), {
      contexts: { default: { server: 'http://flat.test:1', token: 'flat-t' }, lab: { server: 'http://127.0.0.1:7070', token: 'server-t' } },
      currentContext: 'default',
    });
    assert.match(readFileSync(cfg, 'utf8'), /^current-context: default\ncontexts:\n/);
    assert.equal(statSync(cfg).mode & 0o777, 0o600);
    const noName = await berth(['config', 'merge', serverFile]);
    assert.equal(noName.stdout, `context "127.0.0.1:7070" merged from ${serverFile}\n`);
  });

  it('merge keeps the servers: of a berth.yaml; add-server adds an API URL to a context', async () => {
    const serverFile = path.join(dir, 'berth.yaml');
    writeFileSync(serverFile, 'server: https://10.0.0.1:7070\nservers: [https://10.0.0.1:7070, https://10.0.0.2:7070]\ntoken: server-t\n');
    assert.equal((await berth(['config', 'merge', serverFile, '--name', 'ha'])).code, 0);
    assert.deepEqual(readForEdit(cfg).contexts.ha?.servers, ['https://10.0.0.1:7070', 'https://10.0.0.2:7070']);
    const added = await berth(['config', 'add-server', 'https://10.0.0.3:7070/']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'context "ha" servers: https://10.0.0.1:7070, https://10.0.0.2:7070, https://10.0.0.3:7070\n');
    assert.deepEqual(resolveConfig({ flags: { config: cfg }, env: {}, homeDir: dir }).servers, ['https://10.0.0.1:7070', 'https://10.0.0.2:7070', 'https://10.0.0.3:7070']);
    assert.equal((await berth(['config', 'add-server', 'ftp://x'])).code, 2);
    assert.match((await berth(['config', 'add-server', 'https://x:1', 'nope'])).stderr, /no context "nope"/);
  });

  it('usage errors exit 2 with a suggestion', async () => {
    const r = await berth(['config', 'use-contxt', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown config subcommand "use-contxt": did you mean "use-context"\?/);
    assert.equal((await berth(['config'])).code, 2);
    assert.equal((await berth(['config', 'set-context', 'x', '--server', 'ftp://x'])).code, 2);
  });
});
