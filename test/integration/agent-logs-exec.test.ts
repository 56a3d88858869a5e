// The agent's side of logs and exec with both real drivers (Docker Engine containers, host
// processes): requests as the control plane sends them, answers as they would go up the Session
// stream (captured by a sink in place of the gRPC call).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerDriver } from '../../agent/driver/docker.js';
import type { Driver } from '../../agent/driver/driver.js';
import { ProcessDriver } from '../../agent/driver/process.js';
import { StreamRequests, type StreamSink } from '../../agent/session/stream-requests.js';
import type { AgentMessage } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { ServerMessage__Output } from '../../proto/generated/berth/v1/ServerMessage.js';
import { ensureTestImages, makeTask, removeContainersOfNode, shellSpec, testNodeName } from '../helpers/docker.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

class Sink implements StreamSink {
  readonly messages: AgentMessage[] = [];
  write(m: AgentMessage): boolean {
    this.messages.push(m);
    return true;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  lines(id: string, stream?: 'LOG_STREAM_STDOUT' | 'LOG_STREAM_STDERR'): string[] {
    return this.messages
      .filter((m) => m.logChunk?.requestId === id)
      .flatMap((m) => m.logChunk!.lines ?? [])
      .filter((l) => !stream || l.stream === stream)
      .map((l) => l.line ?? '');
  }
  output(id: string, stream: 'LOG_STREAM_STDOUT' | 'LOG_STREAM_STDERR'): string {
    return Buffer.concat(this.messages.filter((m) => m.execOutput?.requestId === id && m.execOutput.stream === stream).map((m) => m.execOutput!.data as Buffer)).toString();
  }
  exitCode(id: string): number | undefined {
    return this.messages.find((m) => m.execEnd?.requestId === id)?.execEnd?.exitCode;
  }
  end(id: string): AgentMessage['logsEnd'] | AgentMessage['execEnd'] | undefined {
    return this.messages.find((m) => m.logsEnd?.requestId === id)?.logsEnd ?? this.messages.find((m) => m.execEnd?.requestId === id)?.execEnd;
  }
}

const msg = (m: object) => m as ServerMessage__Output;
const logsReq = (requestId: string, taskId: string, extra: object = {}) =>
  msg({ message: 'logsRequest', logsRequest: { requestId, taskId, follow: false, ...extra } });
const execReq = (requestId: string, taskId: string, command: string[]) => msg({ message: 'execRequest', execRequest: { requestId, taskId, command } });

const RUNTIMES: { name: string; make: (nodeName: string, dataDir: string) => Driver }[] = [
  { name: 'docker', make: (nodeName) => new DockerDriver({ nodeName, logger: silentLogger }) },
  { name: 'process', make: (nodeName, dataDir) => new ProcessDriver({ nodeName, dataDir, logger: silentLogger, pollMs: 50 }) },
];

for (const rt of RUNTIMES) {
  describe(`agent logs and exec (${rt.name} driver)`, function () {
    this.timeout(60_000);
    const nodeName = testNodeName(`streams-${rt.name}`);
    let dataDir: string;
    let driver: Driver;
    let requests: StreamRequests;
    let sink: Sink;
    const instances: string[] = [];

    before(async function () {
      if (rt.name === 'docker') {
        this.timeout(120_000);
        await ensureTestImages();
      }
    });
    beforeEach(() => {
      dataDir = mkdtempSync(path.join(tmpdir(), 'berth-streams-'));
      driver = rt.make(nodeName, dataDir);
      requests = new StreamRequests(driver, silentLogger);
      sink = new Sink();
    });
    afterEach(async () => {
      requests.cancelAll();
      for (const id of instances.splice(0)) await driver.remove(id).catch(() => undefined);
      if (rt.name === 'docker') await removeContainersOfNode(nodeName);
      rmSync(dataDir, { recursive: true, force: true });
    });

    async function run(script: string, env: Record<string, string> = {}): Promise<string> {
      const task = makeTask(shellSpec(script, { env }));
      await driver.ensureImage(task.spec.image);
      const id = await driver.create(task);
      instances.push(id);
      await driver.start(id);
      return task.id;
    }

    it('reads stdout and stderr apart; tail keeps the last lines', async () => {
      const task = await run('echo oops >&2; sleep 0.2; echo one; echo two; echo three; sleep 30');
      await eventually(async () => {
        const s = new Sink();
        requests.handle(logsReq('probe', task), s);
        await eventually(() => s.end('probe'), 10_000, 'logs end');
        return s.lines('probe').length === 4;
      }, 10_000, 'all four lines written');
      requests.handle(logsReq('all', task), sink);
      requests.handle(logsReq('tail', task, { tail: 1 }), sink);
      await eventually(() => sink.end('all') && sink.end('tail'), 10_000, 'both requests ended');
      assert.deepEqual(sink.lines('all', 'LOG_STREAM_STDOUT'), ['one', 'two', 'three']);
      assert.deepEqual(sink.lines('all', 'LOG_STREAM_STDERR'), ['oops']);
      assert.deepEqual(sink.lines('tail', 'LOG_STREAM_STDOUT'), ['three']);
      assert.equal(sink.end('all')?.errorReason, undefined);
    });

    it('follows new lines until the instance ends; pausing holds them back', async () => {
      const task = await run('i=0; while [ $i -lt 8 ]; do i=$((i+1)); echo n-$i; sleep 0.3; done');
      requests.handle(logsReq('f', task, { follow: true }), sink);
      await eventually(() => sink.lines('f').includes('n-2'), 10_000, 'first lines');
      requests.handle(msg({ message: 'flow', flow: { requestId: 'f', paused: true } }), sink);
      // A chunk already read may still go out; after it, nothing while paused.
      await new Promise((r) => setTimeout(r, 400));
      const whilePaused = sink.lines('f').length;
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(sink.lines('f').length, whilePaused, 'no lines sent while paused');
      requests.handle(msg({ message: 'flow', flow: { requestId: 'f', paused: false } }), sink);
      await eventually(() => sink.end('f'), 15_000, 'the follow ends with the instance');
      assert.deepEqual(sink.lines('f'), ['n-1', 'n-2', 'n-3', 'n-4', 'n-5', 'n-6', 'n-7', 'n-8']);
    });

    it('a cancelled follow stops reading and sends nothing more', async () => {
      const task = await run('while true; do echo tick; sleep 0.2; done');
      requests.handle(logsReq('c', task, { follow: true }), sink);
      await eventually(() => sink.lines('c').length >= 2, 10_000, 'ticks');
      requests.handle(msg({ message: 'cancel', cancel: { requestId: 'c' } }), sink);
      await eventually(() => requests.active === 0, 5_000, 'the request gone');
      const count = sink.messages.length;
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(sink.messages.length, count);
      assert.equal(sink.end('c'), undefined);
    });

    it('exec returns stdout and stderr apart and the exit code', async () => {
      const task = await run('sleep 30', { GREETING: 'hello' });
      requests.handle(execReq('e', task, ['sh', '-c', 'echo "hi $GREETING"; echo bad >&2; exit 3']), sink);
      await eventually(() => sink.end('e'), 10_000, 'exec end');
      assert.equal(sink.output('e', 'LOG_STREAM_STDOUT'), 'hi hello\n');
      assert.equal(sink.output('e', 'LOG_STREAM_STDERR'), 'bad\n');
      assert.equal(sink.exitCode('e'), 3);
    });

    it('a cancelled exec ends its command and what it started', async () => {
      const task = await run('sleep 30');
      requests.handle(execReq('x', task, ['sh', '-c', 'echo started; sleep 37; true']), sink);
      await eventually(() => sink.output('x', 'LOG_STREAM_STDOUT') === 'started\n', 10_000, 'the command started');
      requests.handle(msg({ message: 'cancel', cancel: { requestId: 'x' } }), sink);
      await eventually(() => requests.active === 0, 10_000, 'the request gone');
      // Nothing of the command is left (in the container, or on the host for host processes).
      await eventually(async () => {
        const check = new Sink();
        requests.handle(execReq('ps', task, ['sh', '-c', `ps ${rt.name === 'docker' ? '-o' : '-eo'} args | grep -c "^sleep 37"`]), check);
        await eventually(() => check.end('ps'), 10_000, 'ps');
        return check.output('ps', 'LOG_STREAM_STDOUT').trim() === '0';
      }, 5_000, 'no sleep 37 left');
    });

    it('an interactive exec gets a TTY of the size asked, its input (sent before it runs too) and its exit code; the process runtime refuses it', async () => {
      const task = await run('sleep 30');
      const execInput = (data: string) => msg({ message: 'execInput', execInput: { requestId: 'i', data: Buffer.from(data), closeStdin: false, cols: 0, rows: 0 } });
      requests.handle(
        msg({
          message: 'execRequest',
          execRequest: { requestId: 'i', taskId: task, command: ['sh', '-c', 'read a; echo got-$a; stty size; tty; exit 4'], tty: true, stdin: true, cols: 90, rows: 20 },
        }),
        sink,
      );
      requests.handle(execInput('one\n'), sink);
      await eventually(() => sink.end('i'), 10_000, 'interactive exec end');
      if (rt.name !== 'docker') {
        assert.equal(sink.end('i')?.errorReason, 'NotSupported');
        return;
      }
      assert.match(sink.output('i', 'LOG_STREAM_STDOUT'), /got-one\r\n20 90\r\n\/dev\/pts\/\d+\r\n/);
      assert.equal(sink.output('i', 'LOG_STREAM_STDERR'), '');
      assert.equal(sink.exitCode('i'), 4);
    });

    it('a task without an instance here ends with InstanceNotFound', async () => {
      requests.handle(logsReq('m', 'no-such-task'), sink);
      requests.handle(execReq('me', 'no-such-task', ['true']), sink);
      await eventually(() => sink.end('m') && sink.end('me'), 10_000, 'both ended');
      assert.equal(sink.end('m')?.errorReason, 'InstanceNotFound');
      assert.equal(sink.end('me')?.errorReason, 'InstanceNotFound');
    });
  });
}
