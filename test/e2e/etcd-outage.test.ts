// Riding out an etcd outage: a `berth server --no-agent --etcd URL` on an etcd the test runs as a
// process, stopped (SIGTERM) for 10 s and started again on the same data dir and port.
// - During the outage: reads (services, one service, tasks, nodes, events, a new watch) answer
//   from the API's caches; a scale gets a 503 ServiceUnavailable (from the CLI too) and changes
//   nothing, as etcd shows after recovery.
// - After: a write goes through within 1 s of etcd's own first answer (measured against a direct
//   probe of etcd), and a scale issued at once is carried out.
// - The server logs a bounded number of warnings for the whole outage, not one per retry, though
//   its controllers had work all along (an agent's tasks exiting every second).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { Service, Task } from '../../common/types.js';
import type { WatchMessage } from '../../common/watch.js';
import { EmbeddedEtcd } from '../../control-plane/etcd/embedded.js';
import { eventually, silentLogger } from '../helpers/etcd.js';
import { runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { sleeperManifest } from '../helpers/manifest.js';

/** How long etcd stays down. */
const OUTAGE_MS = 10_000;
/** The requirement: writes resume within this long after etcd answers again. */
const RESUME_MS = 1_000;
/** Allowance for polling (a write every 100 ms, a probe every 25 ms) on a loaded machine. */
const POLL_MARGIN_MS = 250;

interface Api {
  get<T>(p: string): Promise<{ status: number; body: T }>;
  post<T>(p: string, body: unknown, timeoutMs?: number): Promise<{ status: number; body: T }>;
}

function apiOf(server: TestServer): Api {
  const call = async <T>(method: string, p: string, body?: unknown, timeoutMs = 10_000) => {
    const res = await server.fetch(server.url + p, {
      method,
      headers: { authorization: `Bearer ${server.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  return { get: (p) => call('GET', p), post: (p, body, timeoutMs) => call('POST', p, body, timeoutMs) };
}

/** A linearizable read straight from etcd (its HTTP gateway), as a client of its own would make it. */
async function etcdRange(url: string, key: string, timeoutMs = 500): Promise<{ kvs?: { value: string }[] }> {
  const res = await fetch(`${url}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`etcd answered ${res.status}`);
  return (await res.json()) as { kvs?: { value: string }[] };
}

const liveTasks = (tasks: Task[], service: string) => tasks.filter((t) => t.serviceName === service && t.desiredState === 'running');

function firstWatchMessage(server: TestServer, kind: string): Promise<WatchMessage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/watch?kind=${kind}&token=${server.token}`, { ca: readFileSync(path.join(server.dataDir, 'ca.crt')) });
    const timer = setTimeout(() => reject(new Error(`no ${kind} watch message in 5 s`)), 5_000);
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer);
      ws.close();
      resolve(JSON.parse(data.toString()) as WatchMessage);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Brings etcd back with `restart` while probing it directly (every 25 ms) and writing through the
 * API (a scale every 100 ms): when etcd first answered, when a write first went through, and how
 * many writes were refused meanwhile.
 */
async function resumeAfter(api: Api, etcdUrl: string, restart: () => Promise<void>): Promise<{ etcdAnsweredAt: number; wroteAt: number; refused: number }> {
  let etcdAnsweredAt: number | undefined;
  let wroteAt: number | undefined;
  let refused = 0;
  let stop = false;
  const probing = (async () => {
    while (!stop && etcdAnsweredAt === undefined) {
      try {
        await etcdRange(etcdUrl, '/berth/services/web');
        etcdAnsweredAt = Date.now();
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  })();
  const writing = (async () => {
    for (let i = 0; !stop && wroteAt === undefined; i++) {
      const started = Date.now();
      const res = await api.post('/v1/services/probe/scale', { replicas: i % 2 }, 8_000).catch(() => undefined);
      if (res?.status === 503) refused++;
      if (res?.status === 200) wroteAt = Date.now();
      else await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
  })();
  try {
    await restart();
    await eventually(() => wroteAt !== undefined && etcdAnsweredAt !== undefined, 30_000, 'a write through the API after recovery');
  } finally {
    stop = true;
    await Promise.all([probing, writing]);
  }
  return { etcdAnsweredAt: etcdAnsweredAt!, wroteAt: wroteAt!, refused };
}

interface LogLine {
  time: number;
  level: number;
  msg: string;
  component?: string;
  queue?: string;
  informer?: string;
}

/** The server's log lines (pino JSON) at warn or above. */
function warnings(logFile: string): LogLine[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => l.level >= 40);
}

describe('etcd outage: a server rides it out', function () {
  this.timeout(180_000);
  let etcdDir: string;
  let logDir: string;
  let etcd: EmbeddedEtcd | undefined;
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  const savedLogDir = process.env.BERTH_TEST_LOG_DIR;

  before(async () => {
    etcdDir = mkdtempSync(path.join(tmpdir(), 'berth-outage-etcd-'));
    logDir = mkdtempSync(path.join(tmpdir(), 'berth-outage-log-'));
    etcd = await EmbeddedEtcd.start({ dataDir: etcdDir, logger: silentLogger });
    process.env.BERTH_TEST_LOG_DIR = logDir;
    server = await startServer({ extraArgs: ['--etcd', etcd.clientUrl] });
    if (savedLogDir === undefined) delete process.env.BERTH_TEST_LOG_DIR;
    else process.env.BERTH_TEST_LOG_DIR = savedLogDir;
    // An agent (process runtime), so the controllers have work during the outage: the tasks of
    // `churn` exit every second, and their reports are written (and their events recorded).
    agent = startAgent(server, { name: 'n1' });
  });

  after(async () => {
    await agent?.stop();
    await server?.stop();
    await etcd?.stop();
    rmSync(etcdDir, { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
  });

  it('serves reads from its caches, refuses writes with a 503, and writes again within 1 s of etcd answering', async () => {
    const s = server!;
    const api = apiOf(s);
    const clientUrl = etcd!.clientUrl;
    const port = Number(new URL(clientUrl).port);
    const apply = (name: string, replicas: number) => runBerth(['apply', '-f', '-'], { config: s.configPath, input: sleeperManifest(name, { replicas }) });
    assert.equal((await apply('web', 2)).code, 0);
    assert.equal((await apply('probe', 0)).code, 0);
    const churn = sleeperManifest('churn', { replicas: 1, seconds: 1 });
    assert.equal((await runBerth(['apply', '-f', '-'], { config: s.configPath, input: churn })).code, 0);
    await eventually(async () => (await api.get<{ items: { name: string }[] }>('/v1/nodes')).body.items.some((n) => n.name === 'n1'), 20_000, 'node n1');
    await eventually(async () => liveTasks((await api.get<{ items: Task[] }>('/v1/tasks')).body.items, 'web').length === 2, 20_000, '2 web tasks');
    // What the API shows before the outage (tasks listed once, so the API caches them).
    const before = {
      services: (await api.get<{ items: Service[] }>('/v1/services')).body.items.map((x) => [x.metadata.name, x.spec.replicas]),
      tasks: (await api.get<{ items: Task[] }>('/v1/tasks?service=web')).body.items.map((t) => t.id).sort(),
      events: (await api.get<{ items: unknown[] }>('/v1/events')).body.items.length,
    };
    assert.ok(before.events > 0, 'events were recorded');

    // etcd down.
    const logFile = path.join(logDir, `berth-${s.pid}.log`);
    const downAt = Date.now();
    await etcd!.stop();
    etcd = undefined;

    // A scale during the outage: 503, nothing changed (checked in etcd below).
    let refusals = 2; // this scale and the CLI's
    const refused = await api.post<{ error: string; message: string }>('/v1/services/web/scale', { replicas: 5 });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'ServiceUnavailable');
    assert.match(refused.body.message, /etcd.*not answering.*nothing was changed/);
    const cli = await runBerth(['scale', 'service', 'web', '--replicas', '5'], { config: s.configPath });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /not answering/);

    // Reads answer from the caches.
    const services = await api.get<{ items: Service[] }>('/v1/services');
    assert.equal(services.status, 200, JSON.stringify(services.body));
    assert.deepEqual(services.body.items.map((x) => [x.metadata.name, x.spec.replicas]), before.services);
    const web = await api.get<Service>('/v1/services/web');
    assert.equal(web.status, 200);
    assert.equal(web.body.spec.replicas, 2);
    const tasks = await api.get<{ items: Task[] }>('/v1/tasks?service=web');
    assert.equal(tasks.status, 200, JSON.stringify(tasks.body));
    assert.deepEqual(tasks.body.items.map((t) => t.id).sort(), before.tasks);
    assert.equal((await api.get('/v1/nodes')).status, 200);
    assert.equal((await api.get('/v1/nodes/n1')).status, 200);
    assert.equal((await api.get('/v1/tasks?node=n1')).status, 200);
    assert.equal((await api.get('/v1/services/nope')).status, 404);
    const events = await api.get<{ items: unknown[] }>('/v1/events');
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.ok(events.body.items.length >= before.events);
    const watched = await firstWatchMessage(s, 'services');
    assert.equal(watched.type, 'ADDED');

    // etcd up again after OUTAGE_MS: probe etcd directly and poll a write through the API.
    await new Promise((r) => setTimeout(r, Math.max(0, downAt + OUTAGE_MS - Date.now())));
    const { etcdAnsweredAt, wroteAt, refused: probesRefused } = await resumeAfter(api, clientUrl, async () => {
      etcd = await EmbeddedEtcd.start({ dataDir: etcdDir, logger: silentLogger, clientPort: port });
    });
    refusals += probesRefused;
    const resumeMs = wroteAt - etcdAnsweredAt;
    console.log(`      etcd answered ${etcdAnsweredAt - downAt} ms after it stopped; the first write went through ${resumeMs} ms later`);
    assert.ok(resumeMs <= RESUME_MS + POLL_MARGIN_MS, `writes resumed ${resumeMs} ms after etcd answered`);

    // Nothing of the refused scale reached etcd.
    const stored = await etcdRange(clientUrl, '/berth/services/web', 5_000);
    const spec = JSON.parse(Buffer.from(stored.kvs![0]!.value, 'base64').toString()) as Service;
    assert.equal(spec.spec.replicas, 2);

    // A scale right after recovery is carried out.
    const scaledAt = Date.now();
    const scaled = await api.post<Service>('/v1/services/web/scale', { replicas: 4 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    await eventually(async () => liveTasks((await api.get<{ items: Task[] }>('/v1/tasks')).body.items, 'web').length === 4, 15_000, '4 web tasks');
    console.log(`      the scale issued ${scaledAt - wroteAt} ms after the first write was carried out in ${Date.now() - scaledAt} ms`);

    // A bounded number of warnings for the outage: one per refused request, and at most two of
    // any other kind (one per thread), not one per retry.
    await new Promise((r) => setTimeout(r, 500));
    const outage = warnings(logFile).filter((w) => w.time >= downAt);
    const summary = outage.map((w) => `${w.component ?? ''}/${w.queue ?? w.informer ?? ''}: ${w.msg}`);
    const perKind = new Map<string, number>();
    for (const line of summary) perKind.set(line, (perKind.get(line) ?? 0) + 1);
    console.log(`      ${outage.length} warning lines during the outage (${refusals} requests refused):`);
    for (const [line, n] of perKind) console.log(`        ${n} x ${line}`);
    for (const [line, n] of perKind) {
      assert.ok(n <= (line.includes('request refused') ? refusals : 2), `${n} x "${line}"\n${summary.join('\n')}`);
    }
  });
  it('rides out a frozen etcd (SIGSTOP for 10 s, then SIGCONT) the same way', async () => {
    const s = server!;
    const api = apiOf(s);
    const clientUrl = etcd!.clientUrl;
    const pid = etcd!.pid!;
    const replicasBefore = (await api.get<Service>('/v1/services/web')).body.spec.replicas;
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      // A frozen etcd takes calls and does not answer: the first write waits for its deadline
      // (5 s) and is told its outcome is unknown; from then on the client's breaker refuses
      // writes at once, without sending them: "nothing was changed".
      const first = await api.post<{ error: string; message: string }>('/v1/services/web/scale', { replicas: 6 });
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.equal(first.body.error, 'ServiceUnavailable');
      const unsent = await eventually(async () => {
        const r = await api.post<{ error: string; message: string }>('/v1/services/web/scale', { replicas: 7 });
        assert.equal(r.status, 503, JSON.stringify(r.body));
        return r.body.message.includes('nothing was changed') ? r : undefined;
      }, 6_000, 'a scale refused without being sent');
      assert.equal(unsent!.body.error, 'ServiceUnavailable');
      // Reads answer from the caches, each at once or (the first to go to etcd) after its deadline.
      for (const p of ['/v1/services', '/v1/services/web', '/v1/tasks?service=web', '/v1/nodes', '/v1/nodes/n1', '/v1/events']) {
        const started = Date.now();
        const res = await api.get(p);
        assert.equal(res.status, 200, `GET ${p}: ${JSON.stringify(res.body)}`);
        assert.ok(Date.now() - started < 6_000, `GET ${p} took ${Date.now() - started} ms`);
      }
      assert.ok(Date.now() - stoppedAt < OUTAGE_MS, 'the checks took longer than the outage');
      await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + OUTAGE_MS - Date.now())));
    } catch (err) {
      process.kill(pid, 'SIGCONT');
      throw err;
    }
    const { etcdAnsweredAt, wroteAt } = await resumeAfter(api, clientUrl, () => Promise.resolve(void process.kill(pid, 'SIGCONT')));
    const resumeMs = wroteAt - etcdAnsweredAt;
    console.log(`      etcd answered ${etcdAnsweredAt - stoppedAt} ms after it froze; the first write went through ${resumeMs} ms later`);
    assert.ok(resumeMs <= RESUME_MS + POLL_MARGIN_MS, `writes resumed ${resumeMs} ms after etcd answered`);
    // The scale refused unsent changed nothing (the first one, whose outcome was unknown, may
    // have been applied when etcd woke up: 6 or the replicas before, never 7).
    const stored = await etcdRange(clientUrl, '/berth/services/web', 5_000);
    const replicas = (JSON.parse(Buffer.from(stored.kvs![0]!.value, 'base64').toString()) as Service).spec.replicas;
    assert.ok(replicas === replicasBefore || replicas === 6, `replicas ${replicas}`);
    const scaled = await api.post<Service>('/v1/services/web/scale', { replicas: 3 });
    assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
    await eventually(async () => liveTasks((await api.get<{ items: Task[] }>('/v1/tasks')).body.items, 'web').length === 3, 15_000, '3 web tasks');
  });
});
