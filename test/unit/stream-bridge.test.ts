// The logs/exec bridge between the API's thread and the dispatcher, over a real MessageChannel,
// with a stand-in dispatcher (the sessions themselves are tested with real agents elsewhere).
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { BerthError, ConflictError, NotFoundError } from '../../common/errors.js';
import { OutputStream } from '../../common/logs.js';
import { BridgedStreams, serveStreams, type SessionSource } from '../../control-plane/api/stream-bridge.js';
import { NodeUnavailableError, type ExecHandlers, type LogsHandlers, type LogsQuery, type RemoteLogLine, type StreamFailureInfo } from '../../control-plane/dispatcher/task-streams.js';

class FakeDispatcher implements SessionSource {
  readonly connected = new Set<string>(['n1']);
  readonly calls: string[] = [];
  logs: LogsHandlers | undefined;
  exec: ExecHandlers | undefined;
  failWith: Error | undefined;
  private readonly listeners = new Set<(nodeId: string, connected: boolean) => void>();

  connectedNodes(): string[] {
    return [...this.connected];
  }
  onSessionChange(l: (nodeId: string, connected: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  setConnected(nodeId: string, up: boolean): void {
    if (up) this.connected.add(nodeId);
    else this.connected.delete(nodeId);
    for (const l of this.listeners) l(nodeId, up);
  }
  isConnected(nodeId: string): boolean {
    return this.connected.has(nodeId);
  }
  openLogs(nodeId: string, query: LogsQuery, handlers: LogsHandlers) {
    if (this.failWith) throw this.failWith;
    if (!this.connected.has(nodeId)) throw new NodeUnavailableError(nodeId);
    this.logs = handlers;
    this.calls.push(`logs ${nodeId} ${query.taskId}`);
    return this.remote('logs');
  }
  openExec(nodeId: string, req: { taskId: string; command: string[] }, handlers: ExecHandlers) {
    if (this.failWith) throw this.failWith;
    this.exec = handlers;
    this.calls.push(`exec ${nodeId} ${req.command.join(' ')}`);
    return { ...this.remote('exec'), input: (i: { data?: Buffer; cols?: number; rows?: number }) => this.calls.push(`input ${i.data?.toString() ?? ''}${i.cols ? ` ${i.cols}x${i.rows}` : ''}`) };
  }
  private remote(what: string) {
    return {
      cancel: () => this.calls.push(`cancel ${what}`),
      pause: () => this.calls.push(`pause ${what}`),
      resume: () => this.calls.push(`resume ${what}`),
    };
  }
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('logs/exec bridge between the API thread and the dispatcher', () => {
  let channel: MessageChannel;
  let dispatcher: FakeDispatcher;
  let stop: () => void;
  let bridged: BridgedStreams;

  beforeEach(async () => {
    channel = new MessageChannel();
    dispatcher = new FakeDispatcher();
    stop = serveStreams(channel.port1, dispatcher);
    bridged = new BridgedStreams(channel.port2);
    await tick();
  });
  afterEach(() => {
    stop();
    bridged.close();
  });

  it('mirrors which nodes have a session, and refuses at once a node without one', async () => {
    assert.equal(bridged.isConnected('n1'), true);
    assert.equal(bridged.isConnected('n2'), false);
    dispatcher.setConnected('n2', true);
    dispatcher.setConnected('n1', false);
    await tick();
    assert.equal(bridged.isConnected('n2'), true);
    assert.equal(bridged.isConnected('n1'), false);
    assert.throws(() => bridged.openLogs('n1', { taskId: 't', follow: false }, { lines: () => undefined, end: () => undefined }), NodeUnavailableError);
  });

  it('carries log lines and the end back, and pause, resume and cancel forth', async () => {
    const got: RemoteLogLine[] = [];
    let ended: StreamFailureInfo | undefined | 'not yet' = 'not yet';
    const h = bridged.openLogs('n1', { taskId: 't1', follow: true }, { lines: (l) => got.push(...l), end: (f) => (ended = f) });
    await tick();
    assert.deepEqual(dispatcher.calls, ['logs n1 t1']);
    dispatcher.logs!.lines([{ stream: OutputStream.Stdout, line: 'hello', time: '2026-01-01T00:00:00Z' }]);
    h.pause();
    h.resume();
    await tick();
    assert.deepEqual(got, [{ stream: OutputStream.Stdout, line: 'hello', time: '2026-01-01T00:00:00Z' }]);
    assert.deepEqual(dispatcher.calls, ['logs n1 t1', 'pause logs', 'resume logs']);
    dispatcher.logs!.end(undefined);
    await tick();
    assert.equal(ended, undefined);
    h.cancel(); // after the end: nothing more to cancel
    await tick();
    assert.deepEqual(dispatcher.calls, ['logs n1 t1', 'pause logs', 'resume logs']);
  });

  it('passes exec output bytes intact and the exit code', async () => {
    const out: [OutputStream, string][] = [];
    let result: { exitCode?: number } | undefined;
    bridged.openExec('n1', { taskId: 't1', command: ['echo', 'hi'] }, { output: (s, d) => out.push([s, d.toString('hex')]), end: (r) => (result = r) });
    await tick();
    dispatcher.exec!.output(OutputStream.Stderr, Buffer.from([0, 1, 2, 255]));
    dispatcher.exec!.end({ exitCode: 3 });
    await tick();
    assert.deepEqual(out, [[OutputStream.Stderr, '000102ff']]);
    assert.deepEqual(result, { exitCode: 3 });
  });

  it('a request the dispatcher refuses ends with why, and the main side keeps serving', async () => {
    dispatcher.failWith = new Error('disk on fire');
    let ended: StreamFailureInfo | undefined;
    bridged.openLogs('n1', { taskId: 't1', follow: false }, { lines: () => undefined, end: (f) => (ended = f) });
    await tick();
    assert.equal(ended?.message, 'disk on fire');
    dispatcher.failWith = undefined;
    bridged.openLogs('n1', { taskId: 't2', follow: false }, { lines: () => undefined, end: () => undefined });
    await tick();
    assert.deepEqual(dispatcher.calls, ['logs n1 t2']);
  });

  it('a session gone between the check and the request ends the request as a session end', async () => {
    dispatcher.connected.delete('n1'); // gone on the main side, not yet mirrored
    let ended: StreamFailureInfo | undefined;
    bridged.openLogs('n1', { taskId: 't1', follow: true }, { lines: () => undefined, end: (f) => (ended = f) });
    await tick();
    assert.equal(ended?.reason, 'SessionEnded');
    assert.ok(ended?.error instanceof NodeUnavailableError, 'rebuilt with its class');
    assert.equal(ended.error.nodeId, 'n1');
    assert.equal(ended.error.code, 'NODE_UNAVAILABLE');
    assert.equal(ended.error.message, new NodeUnavailableError('n1').message);
  });

  it("a refusal keeps its error's code and name across the thread; a foreign error is INTERNAL", async () => {
    const endedWith = async (err: Error, open: 'logs' | 'exec') => {
      dispatcher.failWith = err;
      let failure: StreamFailureInfo | undefined;
      if (open === 'logs') bridged.openLogs('n1', { taskId: 't1', follow: false }, { lines: () => undefined, end: (f) => (failure = f) });
      else bridged.openExec('n1', { taskId: 't1', command: ['true'] }, { output: () => undefined, end: (r) => (failure = r.failure) });
      await tick();
      return failure;
    };
    const conflict = await endedWith(new ConflictError('tasks/web/1'), 'logs');
    assert.ok(conflict?.error instanceof BerthError);
    assert.equal(conflict.error.code, 'CONFLICT');
    assert.equal(conflict.error.name, 'ConflictError');
    assert.equal(conflict.error.message, new ConflictError('tasks/web/1').message);
    assert.equal(conflict.reason, 'ConflictError');

    const notFound = await endedWith(new NotFoundError('task', 'web.1'), 'exec');
    assert.equal(notFound?.error?.code, 'NOT_FOUND');
    assert.equal(notFound.message, 'task "web.1" not found');

    const foreign = await endedWith(new TypeError('x is undefined'), 'logs');
    assert.equal(foreign?.error?.code, 'INTERNAL');
    assert.equal(foreign.error.name, 'TypeError');
    assert.equal(foreign.reason, 'TypeError');
  });

  it("an agent's failure crosses as it was, with no error of the control plane", async () => {
    let ended: StreamFailureInfo | undefined;
    bridged.openLogs('n1', { taskId: 't1', follow: false }, { lines: () => undefined, end: (f) => (ended = f) });
    await tick();
    dispatcher.logs!.end({ reason: 'InstanceNotFound', message: 'no such container' });
    await tick();
    assert.deepEqual(ended, { reason: 'InstanceNotFound', message: 'no such container' });
  });
});
