// The events endpoint and the /v1/watch WebSocket against a real etcd and a listening API.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { EventReason, EventType, type BerthEvent } from '../../common/events.js';
import type { Service, Task } from '../../common/types.js';
import type { WatchMessage } from '../../common/watch.js';
import { ClusterTokens } from '../../control-plane/auth/tokens.js';
import { listenApi } from '../../control-plane/api/server.js';
import { buildTestApi } from '../helpers/api.js';
import { EVENTS_PER_KEY, EventRecorder } from '../../control-plane/events/recorder.js';
import { keys, rolloutKeys } from '../../control-plane/store/keys.js';
import type { UpdateStatus } from '../../common/rollout.js';
import type { Store } from '../../control-plane/store/store.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { task as buildTask } from '../helpers/builders.js';

const web = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image: 'berth/web', replicas: 2 } };

function task(id: string, slot: number, state: Task['status']['state'] = 'pending'): Task {
  const at = new Date().toISOString();
  return buildTask({ id, slot, state, status: { timestamp: at }, createdAt: at });
}

/** A watch connection that keeps every message it receives. */
class Watch {
  readonly messages: WatchMessage<{ id?: string; name?: string; metadata?: { name: string }; status?: { running?: number } }>[] = [];
  readonly closed: Promise<number>;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString()) as never));
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  static open(url: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<Watch> {
    const ws = new WebSocket(url, protocols, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Watch(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  async waitFor(n: number, what: string): Promise<this['messages']> {
    await eventually(() => this.messages.length >= n, 10_000, `${n} watch messages (${what}); got ${JSON.stringify(this.messages)}`);
    return this.messages;
  }

  get lastVersion(): number {
    const changes = this.messages.filter((m) => m.type !== 'ERROR') as { version: number }[];
    return Math.max(...changes.map((m) => m.version));
  }

  close(): void {
    this.ws.terminate();
  }
}

describe('events and watch API (real etcd, listening server)', function () {
  this.timeout(30_000);
  let t: TestEtcd;
  let store: Store;
  let app: FastifyInstance;
  let recorder: EventRecorder;
  let dataDir: string;
  let token: string;
  let base: string;
  const watches: Watch[] = [];
  const watch = async (query: string) => {
    const w = await Watch.open(`${base.replace('http', 'ws')}/v1/watch?${query}`, { authorization: `Bearer ${token}` });
    watches.push(w);
    return w;
  };
  const api = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };

  before(async () => {
    t = await startTestEtcd();
  });
  after(async () => t?.stop());
  beforeEach(async () => {
    store = t.newStore();
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-watch-'));
    const tokens = await ClusterTokens.ensure(store, dataDir, silentLogger, '0'.repeat(64));
    token = tokens.adminToken!;
    recorder = new EventRecorder({ store, logger: silentLogger, flushMs: 5 });
    app = buildTestApi({ store, tokens, logger: silentLogger, events: recorder });
    base = await listenApi(app, '127.0.0.1:0');
  });
  afterEach(async () => {
    // Closing the API with sockets still open must end them (the HTTP server would wait forever).
    await app.close();
    for (const w of watches.splice(0)) w.close();
    await recorder.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('GET /v1/events: service changes recorded by the API, filtered by kind, name and service, oldest first', async () => {
    await api('POST', '/v1/apply', { items: [web] });
    await api('POST', '/v1/services/web/scale', { replicas: 3 });
    recorder.record({ type: EventType.Normal, reason: EventReason.TaskStarted, object: { kind: 'task', name: 'web.1.abc', id: 'abc' }, service: 'web', message: 'started on node-a' });
    recorder.record({ type: EventType.Warning, reason: EventReason.NodeDown, object: { kind: 'node', name: 'node-a', id: 'n1' }, message: 'no heartbeat for 5s' });
    const list = async () => (await api<{ items: BerthEvent[] }>('GET', '/v1/events')).items;
    await eventually(async () => (await list()).length === 4, 5000, 'four events');
    const all = await list();
    assert.deepEqual(all.map((e) => e.reason), ['ServiceCreated', 'ServiceScaled', 'TaskStarted', 'NodeDown']);
    assert.equal(all[1]?.message, 'scaled from 2 to 3 replicas');

    const ofWeb = await api<{ items: BerthEvent[] }>('GET', '/v1/events?service=web');
    assert.deepEqual(ofWeb.items.map((e) => e.reason), ['ServiceCreated', 'ServiceScaled', 'TaskStarted']);
    const nodes = await api<{ items: BerthEvent[] }>('GET', '/v1/events?kind=node&name=node-a');
    assert.deepEqual(nodes.items.map((e) => [e.type, e.reason]), [['Warning', 'NodeDown']]);
    const oneTask = await api<{ items: BerthEvent[] }>('GET', '/v1/events?kind=task&name=web.1.abc');
    assert.deepEqual(oneTask.items.map((e) => e.object.name), ['web.1.abc']);
    const bad = await fetch(`${base}/v1/events?kind=pod`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(bad.status, 400);
  });

  it('events recorded together share etcd keys (EVENTS_PER_KEY each); they are listed and watched one by one, in order', async () => {
    const w = await watch('kind=events');
    const n = EVENTS_PER_KEY * 2 + 7;
    for (let i = 0; i < n; i++) {
      recorder.record({ type: EventType.Normal, reason: EventReason.TaskStarted, object: { kind: 'task', name: `web.${i + 1}.t${i}`, id: `t${i}` }, service: 'web', message: `started ${i}` });
    }
    await recorder.stop(); // writes what is queued
    const listed = (await api<{ items: BerthEvent[] }>('GET', '/v1/events?service=web')).items;
    assert.deepEqual(listed.map((e) => e.message), Array.from({ length: n }, (_, i) => `started ${i}`));
    assert.equal(new Set(listed.map((e) => e.id)).size, n, 'every event keeps an id of its own');
    assert.equal(await store.count(keys.events), 3, `${n} events in 3 keys`);
    const seen = await w.waitFor(n, 'every event');
    assert.deepEqual(seen.map((m) => m.type), new Array<string>(n).fill('ADDED'));
    assert.deepEqual(seen.map((m) => m.type !== 'ERROR' && m.object.id), listed.map((e) => e.id));
  });

  it('watch tasks: ADDED for what exists, then MODIFIED and DELETED as the store changes', async () => {
    await store.create(keys.task('web', 'a'), task('a', 1));
    await store.create(keys.task('web', 'b'), task('b', 2));
    const w = await watch('kind=tasks');
    const initial = await w.waitFor(2, 'initial list');
    assert.deepEqual(initial.map((m) => [m.type, m.type !== 'ERROR' && m.object.id]).sort(), [['ADDED', 'a'], ['ADDED', 'b']]);

    const cur = (await store.get<Task>(keys.task('web', 'a')))!;
    await store.put(keys.task('web', 'a'), { ...cur, status: { ...cur.status, state: 'assigned' } }, cur.version);
    await store.delete(keys.task('web', 'b'));
    const all = await w.waitFor(4, 'a modified, b deleted');
    assert.deepEqual(all.slice(2).map((m) => [m.type, m.type !== 'ERROR' && m.object.id]), [['MODIFIED', 'a'], ['DELETED', 'b']]);
    const versions = all.map((m) => (m.type === 'ERROR' ? 0 : m.version));
    assert.ok(versions[3]! > versions[2]! && versions[2]! > versions[0]!, `versions grow: ${versions.join(',')}`);
  });

  it('a reconnect with fromVersion receives exactly the changes made while disconnected', async () => {
    await store.create(keys.task('web', 'a'), task('a', 1));
    await store.create(keys.task('web', 'b'), task('b', 2));
    const first = await watch('kind=tasks');
    await first.waitFor(2, 'initial list');
    const seen = first.lastVersion;
    first.close();

    const a = (await store.get<Task>(keys.task('web', 'a')))!;
    await store.put(keys.task('web', 'a'), { ...a, status: { ...a.status, state: 'assigned' } }, a.version);
    await store.delete(keys.task('web', 'b'));
    await store.create(keys.task('web', 'c'), task('c', 3));

    const again = await watch(`kind=tasks&fromVersion=${seen}`);
    const missed = await again.waitFor(3, 'the three changes');
    assert.deepEqual(missed.map((m) => [m.type, m.type !== 'ERROR' && m.object.id]), [['MODIFIED', 'a'], ['DELETED', 'b'], ['ADDED', 'c']]);
    // Nothing else follows: no replay of the initial objects.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(again.messages.length, 3);
  });

  it('a fromVersion older than what can be resumed gets ERROR 410 and the socket closes', async () => {
    await store.create(keys.task('web', 'a'), task('a', 1));
    const old = await store.revision();
    await store.put(keys.task('web', 'a'), task('a', 1));
    await store.compact(await store.revision());
    const w = await watch(`kind=tasks&fromVersion=${old - 1}`);
    const code = await w.closed;
    assert.deepEqual(w.messages.map((m) => [m.type, m.type === 'ERROR' && m.code]), [['ERROR', 410]]);
    assert.equal(code, 4410);
  });

  it('watch services: a scale and a task starting are MODIFIED services with fresh status', async () => {
    await api('POST', '/v1/apply', { items: [web] });
    const w = await watch('kind=services');
    const [added] = await w.waitFor(1, 'initial list');
    assert.equal(added?.type, 'ADDED');
    await api('POST', '/v1/services/web/scale', { replicas: 1 });
    // Counts come from the main thread every 50 ms: a task change made in the same flush would be
    // one MODIFIED with the scale, so the task starts once the scale is seen.
    const scaled = (await w.waitFor(2, 'scaled'))[1]!;
    assert.equal(scaled.type, 'MODIFIED');
    assert.equal((scaled.object as Service).spec.replicas, 1);
    await store.create(keys.task('web', 'a'), task('a', 1, 'running'));
    const all = await w.waitFor(3, 'a running task');
    const last = all[2]!;
    assert.equal(last.type, 'MODIFIED');
    assert.equal((last.object as Service).status?.running, 1);
  });

  it('watch services: the rollout shows as status.update, and its progress is a MODIFIED service', async () => {
    await api('POST', '/v1/apply', { items: [web] });
    const w = await watch('kind=services');
    const [added] = await w.waitFor(1, 'initial list');
    const update = (m: typeof added) => (m?.type === 'ERROR' ? undefined : (m?.object as Service & { status?: { update?: { state: string; revision: number } } }).status?.update);
    assert.deepEqual({ state: update(added)?.state, revision: update(added)?.revision }, { state: 'updating', revision: 1 });
    const cur = (await store.get<UpdateStatus>(rolloutKeys.update('web')))!;
    const { version, ...value } = cur;
    await store.put(rolloutKeys.update('web'), { ...value, state: 'completed', message: 'revision 1 rolled out' }, version);
    const all = await w.waitFor(2, 'the rollout completed');
    assert.equal(all[1]?.type, 'MODIFIED');
    assert.equal(update(all[1])?.state, 'completed');
  });

  it('refuses a socket without a valid token; accepts ?token=', async () => {
    const url = `${base.replace('http', 'ws')}/v1/watch?kind=nodes`;
    await assert.rejects(Watch.open(url), /HTTP 401/);
    await assert.rejects(Watch.open(url, { authorization: 'Bearer wrong' }), /HTTP 401/);
    await assert.rejects(Watch.open(`${base.replace('http', 'ws')}/v1/watch?kind=pods`, { authorization: `Bearer ${token}` }), /HTTP 400/);
    const ok = await Watch.open(`${url}&token=${encodeURIComponent(token)}`);
    watches.push(ok);
    assert.equal(ok.ws.readyState, WebSocket.OPEN);
  });

  it('takes the token as a subprotocol (browsers), and answers berth.watch, never the token', async () => {
    const url = `${base.replace('http', 'ws')}/v1/watch?kind=nodes`;
    await assert.rejects(Watch.open(url, {}, ['berth.watch', 'berth.bearer.wrong']), /HTTP 401/);
    const ok = await Watch.open(url, {}, ['berth.watch', `berth.bearer.${token}`]);
    watches.push(ok);
    assert.equal(ok.ws.readyState, WebSocket.OPEN);
    assert.equal(ok.ws.protocol, 'berth.watch');
  });
});
