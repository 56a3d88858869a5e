// A context with several API URLs: the config forms (`servers:` beside or instead of `server:`,
// old files unchanged), and the client moving to the next URL when one does not answer, against
// real local HTTP servers that are down, silent, answering, or answering an error; watches too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { ApiClient } from '../../cli/api-client.js';
import { parseConfigFile, resolveConfig } from '../../cli/config.js';
import { serializeConfig, setContext } from '../../cli/contexts.js';
import { followWatch } from '../../cli/watch.js';

interface Local {
  url: string;
  hits: number;
  close(): Promise<void>;
}

/** A local HTTP server: `answer` decides (undefined: never answers). */
async function serve(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void | undefined, withWatch = false): Promise<Local> {
  const sockets = new Set<import('node:net').Socket>();
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    answer(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  if (withWatch) {
    const wss = new WebSocketServer({ server, path: '/v1/watch' });
    wss.on('connection', (ws) => {
      state.hits++;
      ws.send(JSON.stringify({ type: 'ADDED', version: 7, object: { name: 'n1' } }));
    });
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A URL where nothing listens (a server started and stopped: its port refuses connections). */
async function downUrl(): Promise<string> {
  const s = await serve(() => undefined);
  await s.close();
  return s.url;
}

const json = (status: number, body: unknown) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('cli: several API URLs', () => {
  const open: Local[] = [];
  const up = async (...a: Parameters<typeof serve>) => {
    const s = await serve(...a);
    open.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  describe('config', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'berth-servers-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const resolve = (text: string, flags: { server?: string } = {}) => {
      const file = path.join(dir, 'c.yaml');
      writeFileSync(file, text);
      return resolveConfig({ flags: { config: file, ...flags }, env: {}, homeDir: dir });
    };

    it('servers: beside or instead of server:, server first; an old file has one URL', () => {
      assert.deepEqual(resolve('servers: [https://a:7070, https://b:7070/]\ntoken: t\n').servers, ['https://a:7070', 'https://b:7070']);
      const both = resolve('server: https://b:7070\nservers: [https://a:7070, https://b:7070]\n');
      assert.equal(both.server, 'https://b:7070');
      assert.deepEqual(both.servers, ['https://b:7070', 'https://a:7070']);
      const old = resolve('server: https://a:7070\ntoken: t\n');
      assert.equal(old.server, 'https://a:7070');
      assert.equal(old.servers, undefined);
      assert.equal(resolve('servers: [https://a:7070, https://b:7070]\n', { server: 'https://c:7070' }).servers, undefined, '--server means that one only');
      const ctx = resolve('current-context: p\ncontexts:\n- name: p\n  servers: [https://a:7070, https://b:7070]\n');
      assert.deepEqual(ctx.servers, ['https://a:7070', 'https://b:7070']);
    });

    it('refuses a bad servers: list, naming the field', () => {
      assert.throws(() => resolve('servers: https://a:7070\n'), /servers: must be a list of API URLs/);
      assert.throws(() => resolve('servers: []\n'), /servers: must be a list/);
      assert.throws(() => resolve('servers: [https://a:7070, 42]\n'), /servers: must be a list/);
      assert.throws(() => resolve('servers: [https://a:7070, "ftp://b"]\n'), /servers: "ftp:\/\/b" must start with http/);
    });

    it('contexts keep their servers when written; add-server appends, a new --server replaces the list', () => {
      const parsed = parseConfigFile('server: https://a:7070\nservers: [https://a:7070, https://b:7070]\ntoken: t\n', 'f');
      const text = serializeConfig(parsed);
      assert.match(text, /servers:\n\s+- https:\/\/a:7070\n\s+- https:\/\/b:7070/);
      assert.deepEqual(parseConfigFile(text, 'f').contexts.default?.servers, ['https://a:7070', 'https://b:7070']);
      const added = setContext(parsed, 'default', { addServers: ['https://c:7070'] }).file;
      assert.deepEqual(added.contexts.default?.servers, ['https://a:7070', 'https://b:7070', 'https://c:7070']);
      const moved = setContext(added, 'default', { server: 'https://z:7070' }).file;
      assert.equal(moved.contexts.default?.servers, undefined);
    });
  });

  describe('client', () => {
    it('moves to the next URL when one refuses connections, and stays there', async () => {
      const dead = await downUrl();
      const live = await up(json(200, { items: [{ id: 'n1', name: 'n1' }] }));
      const client = new ApiClient({ server: dead, servers: [dead, live.url] });
      assert.deepEqual((await client.listNodes()).map((n) => n.name), ['n1']);
      assert.equal(client.server, live.url);
      await client.listNodes();
      assert.equal(live.hits, 2);
    });

    it('an HTTP error answer is the answer: the next URL is not asked', async () => {
      const failing = await up(json(503, { error: 'Unavailable', message: 'etcd is not answering' }));
      const live = await up(json(200, { items: [] }));
      const client = new ApiClient({ server: failing.url, servers: [failing.url, live.url] });
      await assert.rejects(client.listNodes(), /etcd is not answering/);
      assert.equal(live.hits, 0);
    });

    it('a read that gets no answer in time goes to the next URL; a write does not', async () => {
      const silent = await up(() => undefined);
      const live = await up(json(200, { items: [] }));
      const client = new ApiClient({ server: silent.url, servers: [silent.url, live.url], timeoutMs: 300 });
      assert.deepEqual(await client.listNodes(), []);
      const writer = new ApiClient({ server: silent.url, servers: [silent.url, live.url], timeoutMs: 300 });
      await assert.rejects(writer.scaleService('web', 2), /timed out/);
      assert.equal(live.hits, 1, 'only the read reached the second server');
    });

    it('none answers: the error names every URL tried', async () => {
      const [a, b] = [await downUrl(), await downUrl()];
      const client = new ApiClient({ server: a, servers: [a, b] });
      await assert.rejects(client.listNodes(), (err: Error) => {
        assert.match(err.message, /cannot reach any server of this context/);
        assert.ok(err.message.includes(a) && err.message.includes(b), err.message);
        return true;
      });
    });

    it('a watch whose server does not answer opens on the next URL', async () => {
      const dead = await downUrl();
      const live = await up(json(404, {}), true);
      const client = new ApiClient({ server: dead, servers: [dead, live.url] });
      const stop = new AbortController();
      const notices: string[] = [];
      const seen: number[] = [];
      await followWatch(client, {
        kind: 'nodes',
        signal: stop.signal,
        backoffMs: [50],
        onNotice: (t) => notices.push(t),
        onChange: (c) => {
          seen.push(c.version);
          stop.abort();
        },
      });
      assert.deepEqual(seen, [7]);
      assert.ok(notices.some((n) => n.includes(`cannot reach ${dead}`) && n.includes(`trying ${live.url}`)), notices.join('\n'));
    });
  });
});
