// Logs and exec through the whole control-plane path in one process: API (NDJSON over HTTP) ->
// dispatcher -> gRPC session -> agent (process runtime) -> host process, against a real etcd.
// What a client going away and a client reading slowly do to the agent's side.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent } from '../../agent/agent.js';
import type { ExecMessage, LogsMessage } from '../../common/logs.js';
import type { Node, Task } from '../../common/types.js';
import { listenApi } from '../../control-plane/api/server.js';
import { buildTestApi } from '../helpers/api.js';
import { Dispatcher } from '../../control-plane/dispatcher/dispatcher.js';
import { keys } from '../../control-plane/store/keys.js';
import type { Store } from '../../control-plane/store/store.js';
import { NdjsonDecoder } from '../../cli/ndjson.js';
import { makeTask, shellSpec } from '../helpers/docker.js';
import { eventually, silentLogger, startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { testPki } from '../helpers/pki.js';

let TOKEN: string;

describe('logs and exec through API, dispatcher and agent session', function () {
  this.timeout(60_000);
  let t: TestEtcd;
  let store: Store;
  let dispatcher: Dispatcher;
  let api: FastifyInstance;
  let url: string;
  let agent: Agent;
  let dataDir: string;
  let nodeId: string;

  before(async () => {
    t = await startTestEtcd();
    store = t.newStore();
    const pki = await testPki();
    TOKEN = pki.token();
    dispatcher = new Dispatcher({ store, logger: silentLogger, listen: '127.0.0.1:0', verifyJoinToken: (tok) => tok === TOKEN, tls: pki.tls });
    await dispatcher.start();
    api = buildTestApi({ store, tokens: { verifyAdmin: () => true }, logger: silentLogger, streams: dispatcher });
    url = await listenApi(api, '127.0.0.1:0');
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-api-logs-'));
    agent = new Agent({
      server: `127.0.0.1:${dispatcher.port}`,
      joinToken: TOKEN,
      nodeName: 'logs-node',
      labels: {},
      runtime: 'process',
      dataDir,
      capacity: { cpu: 2000, memory: 2 ** 30 },
      version: 'test',
      logger: silentLogger,
    });
    await agent.start();
    nodeId = (await eventually(async () => (await store.list<Node>(keys.nodes)).items.find((n) => n.name === 'logs-node' && n.status.state === 'ready'), 15_000, 'node ready'))!.id;
  });

  after(async () => {
    if (agent) {
      // Unassigned tasks are stopped and removed by the agent (their process groups killed).
      for (const task of (await store.list<Task>(keys.tasksOf('talk'))).items) await store.delete(keys.task('talk', task.id));
      await eventually(async () => (await readdir(path.join(dataDir, 'processes')).catch(() => [])).length === 0, 30_000, 'task processes removed');
    }
    await agent?.stop();
    await api?.close();
    await dispatcher?.stop();
    await t?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function runTask(script: string): Promise<Task> {
    const task = { ...makeTask(shellSpec(script), { service: 'talk' }), nodeId };
    await store.create(keys.task(task.serviceName, task.id), task);
    await eventually(async () => (await store.get<Task>(keys.task(task.serviceName, task.id)))?.status.state === 'running', 15_000, 'task running');
    return (await store.get<Task>(keys.task(task.serviceName, task.id)))!;
  }

  async function readAll<T>(res: Response): Promise<T[]> {
    const d = new NdjsonDecoder();
    const out = d.push(await res.text());
    return [...out, ...d.end()] as T[];
  }

  it('a client that goes away ends the agent-side follow', async () => {
    const task = await runTask('while true; do echo tick; sleep 0.1; done');
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/tasks/${task.name}/logs?follow=true`, { signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /"line":"tick"/);
    assert.equal(agent.streams.active, 1);
    abort.abort();
    await eventually(() => agent.streams.active === 0, 10_000, 'the agent stopped reading');
  });

  it('a slow reader pauses the agent; reading again gets every line in order', async () => {
    const task = await runTask('i=0; while [ $i -lt 50000 ]; do i=$((i+1)); echo "line $i of a slowly read stream, padded to be long enough"; done; sleep 60');
    const res = await fetch(`${url}/v1/tasks/${task.name}/logs?follow=true`);
    const reader = res.body!.getReader();
    // Not reading: the socket fills up and the API pauses the request at the agent.
    await eventually(() => agent.streams.paused === 1, 15_000, 'the request paused');
    const decoder = new NdjsonDecoder();
    const text = new TextDecoder();
    let seen = 0;
    while (seen < 50000) {
      const { value, done } = await reader.read();
      assert.equal(done, false, `stream ended after ${seen} lines`);
      for (const m of decoder.push(text.decode(value, { stream: true })) as LogsMessage[]) {
        if (!('line' in m)) continue;
        seen++;
        assert.equal(m.line, `line ${seen} of a slowly read stream, padded to be long enough`);
      }
    }
    await reader.cancel();
    await eventually(() => agent.streams.active === 0, 10_000, 'the agent stopped reading');
  });

  it('logs of a task apart from exec; exec passes the exit code through', async () => {
    const task = await runTask('echo out; echo err >&2; sleep 60');
    const logs = await readAll<LogsMessage>(await fetch(`${url}/v1/tasks/${task.id.slice(0, 9)}/logs`));
    assert.deepEqual(logs.map((m) => ('line' in m ? [m.task, m.stream, m.line] : m)).sort(), [[task.name, 'stderr', 'err'], [task.name, 'stdout', 'out']]);

    const exec = await fetch(`${url}/v1/tasks/${task.name}/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command: ['sh', '-c', 'echo hi; exit 3'] }) });
    const msgs = await readAll<ExecMessage>(exec);
    assert.deepEqual(msgs, [{ stream: 'stdout', data: Buffer.from('hi\n').toString('base64') }, { exitCode: 3 }]);

    const missing = await fetch(`${url}/v1/tasks/nope/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command: ['true'] }) });
    assert.equal(missing.status, 404);
    const badSince = await fetch(`${url}/v1/tasks/${task.name}/logs?since=10m`);
    assert.equal(badSince.status, 400);
  });
});
