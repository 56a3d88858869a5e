// Pure parts of logs and exec: --since, Docker frames and line framing, NDJSON decoding, routing
// of agent answers by request id, and which task a follower moves on to.
import assert from 'node:assert/strict';
import { FrameParser, LineSplitter, dockerSince, splitTimestamp } from '../../agent/driver/output-frames.js';
import { parseSince } from '../../cli/since.js';
import { NdjsonDecoder } from '../../cli/ndjson.js';
import { parseLogsTarget, renderLogMessage } from '../../cli/commands/logs.js';
import { UsageError } from '../../cli/command.js';
import { StreamRouter, routeOf } from '../../control-plane/dispatcher/stream-router.js';
import { liveTasks, parseLogsParams, resumeTarget, successorOf, timeKey } from '../../control-plane/api/log-follow.js';
import type { AgentMessage__Output } from '../../proto/generated/berth/v1/AgentMessage.js';
import type { Task } from '../../common/types.js';
import { task as buildTask } from '../helpers/builders.js';

function frame(type: number, text: string): Buffer {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = type;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

describe('logs: --since', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  it('turns durations into a time before now', () => {
    assert.equal(parseSince('30s', now), '2026-01-10T11:59:30.000Z');
    assert.equal(parseSince('10m', now), '2026-01-10T11:50:00.000Z');
    assert.equal(parseSince('1h30m', now), '2026-01-10T10:30:00.000Z');
    assert.equal(parseSince('2d', now), '2026-01-08T12:00:00.000Z');
  });
  it('takes RFC 3339 times as they are, in UTC', () => {
    assert.equal(parseSince('2026-01-10T13:00:00+02:00', now), '2026-01-10T11:00:00.000Z');
    assert.equal(parseSince('2026-01-09T08:00:00Z', now), '2026-01-09T08:00:00.000Z');
  });
  it('refuses anything else with a usage error', () => {
    for (const bad of ['10', 'ten minutes', '5y', '', '2026-13-45T00:00:00Z']) assert.throws(() => parseSince(bad, now), UsageError, bad);
  });
  it('the API accepts only absolute times and whole tails', () => {
    assert.deepEqual(parseLogsParams({ follow: 'true', tail: '5', since: '2026-01-10T11:00:00+01:00' }), { follow: true, tail: 5, since: '2026-01-10T10:00:00.000Z' });
    assert.deepEqual(parseLogsParams({ tail: 'all' }), { follow: false });
    assert.throws(() => parseLogsParams({ tail: '-1' }), /tail/);
    assert.throws(() => parseLogsParams({ since: '10m' }), /since/);
  });
  it('Docker gets Unix seconds with nanoseconds', () => {
    assert.equal(dockerSince('2026-01-10T12:00:00.250Z'), `${Date.parse('2026-01-10T12:00:00Z') / 1000}.250000000`);
  });
});

describe('logs: framing', () => {
  it('splits the Engine multiplexed stream by stream, across chunk boundaries', () => {
    const p = new FrameParser();
    const all = Buffer.concat([frame(1, 'out-1\n'), frame(2, 'err-1\n'), frame(1, 'out-2\n')]);
    const got = [...p.push(all.subarray(0, 5)), ...p.push(all.subarray(5, 17)), ...p.push(all.subarray(17))];
    assert.deepEqual(got.map((f) => [f.stream, f.data.toString()]), [['stdout', 'out-1\n'], ['stderr', 'err-1\n'], ['stdout', 'out-2\n']]);
  });
  it('cuts bytes into lines, keeping an unfinished line for the next chunk', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('a\nb'), ['a']);
    assert.deepEqual(s.push('c\r\nd\n'), ['bc', 'd']);
    assert.deepEqual(s.push('tail'), []);
    assert.deepEqual(s.flush(), ['tail']);
  });
  it('cuts a line longer than the limit instead of holding it', () => {
    const s = new LineSplitter(4);
    assert.deepEqual(s.push('abcdefghij'), ['abcd', 'efgh']);
    assert.deepEqual(s.push('\n'), ['ij']);
  });
  it('separates the Engine timestamp from the text', () => {
    assert.deepEqual(splitTimestamp('stderr', '2026-01-10T12:00:00.123456789Z hello world'), { stream: 'stderr', time: '2026-01-10T12:00:00.123456789Z', line: 'hello world' });
    assert.deepEqual(splitTimestamp('stdout', 'no time here'), { stream: 'stdout', line: 'no time here' });
  });
  it('decodes NDJSON split anywhere', () => {
    const d = new NdjsonDecoder();
    assert.deepEqual(d.push('{"a":1}\n{"b"'), [{ a: 1 }]);
    assert.deepEqual(d.push(':2}\n\n{"c":3}'), [{ b: 2 }]);
    assert.deepEqual(d.end(), [{ c: 3 }]);
  });
});

describe('logs: the CLI', () => {
  it('takes a task or service/NAME', () => {
    assert.deepEqual(parseLogsTarget(['web.1.abc']), { kind: 'task', name: 'web.1.abc' });
    assert.deepEqual(parseLogsTarget(['service/web']), { kind: 'service', name: 'web' });
    assert.deepEqual(parseLogsTarget(['svc/web']), { kind: 'service', name: 'web' });
    assert.throws(() => parseLogsTarget(['node/a']), UsageError);
    assert.throws(() => parseLogsTarget([]), UsageError);
  });
  it('prints stderr lines to stderr, with the task prefix and time when asked', () => {
    const rec = { task: 'web.3.x7k2q', taskId: 'x7k2q', stream: 'stderr' as const, time: '2026-01-10T12:00:00Z', line: 'boom' };
    assert.deepEqual(renderLogMessage(rec, { prefix: true, timestamps: true }), { to: 'err', text: 'web.3.x7k2q | 2026-01-10T12:00:00Z boom' });
    assert.deepEqual(renderLogMessage({ ...rec, stream: 'stdout' }, { prefix: false, timestamps: false }), { to: 'out', text: 'boom' });
    assert.deepEqual(renderLogMessage({ notice: 'web.3.x7k2q ended' }, { prefix: false, timestamps: false }), { to: 'err', text: 'berth: web.3.x7k2q ended' });
  });
});

describe('logs and exec: routing agent answers by request id', () => {
  const chunk = (id: string): AgentMessage__Output => ({ message: 'logChunk', logChunk: { requestId: id, lines: [] } }) as unknown as AgentMessage__Output;
  const end = (id: string): AgentMessage__Output => ({ message: 'logsEnd', logsEnd: { requestId: id } }) as unknown as AgentMessage__Output;
  const recorder = () => {
    const got: string[] = [];
    return { got, handler: { message: (m: AgentMessage__Output) => got.push(m.message ?? ''), closed: (r: string) => got.push(`closed: ${r}`) } };
  };

  it('gives each answer to its request and forgets a request at its end', () => {
    const router = new StreamRouter();
    const a = recorder();
    const b = recorder();
    router.add('a', a.handler);
    router.add('b', b.handler);
    assert.equal(router.route(chunk('a')), true);
    router.route(chunk('b'));
    router.route(end('a'));
    router.route(chunk('a')); // after its end: dropped
    assert.deepEqual(a.got, ['logChunk', 'logsEnd']);
    assert.deepEqual(b.got, ['logChunk']);
    assert.equal(router.size, 1);
  });
  it('leaves other messages alone and drops answers to unknown or cancelled requests', () => {
    const router = new StreamRouter();
    const a = recorder();
    router.add('a', a.handler);
    router.forget('a');
    assert.equal(router.route({ message: 'heartbeat', heartbeat: {} } as unknown as AgentMessage__Output), false);
    assert.equal(router.route(chunk('a')), true);
    assert.deepEqual(a.got, []);
    assert.deepEqual(routeOf({ message: 'execEnd', execEnd: { requestId: 'x' } } as unknown as AgentMessage__Output), { requestId: 'x', final: true });
  });
  it('ends every open request when the session closes, and any request added later', () => {
    const router = new StreamRouter();
    const a = recorder();
    router.add('a', a.handler);
    router.closeAll('gone');
    const late = recorder();
    router.add('late', late.handler);
    assert.deepEqual(a.got, ['closed: gone']);
    assert.deepEqual(late.got, ['closed: gone']);
  });
});

describe('logs -f: the task that takes over a slot', () => {
  const task = (id: string, slot: number, createdAt: string, extra: Partial<Task> = {}): Task =>
    buildTask({ id, slot, spec: { image: 'x' }, nodeId: 'n1', status: { state: 'running', timestamp: createdAt }, createdAt, ...extra });
  const ended = task('a', 1, '2026-01-10T12:00:00Z', { status: { state: 'failed', timestamp: '2026-01-10T12:01:00Z' } });

  it('is the newer running task of the same slot', () => {
    const next = task('b', 1, '2026-01-10T12:01:01Z');
    const other = task('c', 2, '2026-01-10T12:01:02Z');
    assert.equal(successorOf(ended, [ended, other, next], new Set(['a']))?.id, 'b');
  });
  it('is none while the new task has not started, or is already followed', () => {
    const pending = task('b', 1, '2026-01-10T12:01:01Z', { status: { state: 'pending', timestamp: 'x' } });
    assert.equal(successorOf(ended, [ended, pending], new Set(['a'])), undefined);
    const started = task('b', 1, '2026-01-10T12:01:01Z');
    assert.equal(successorOf(ended, [ended, started], new Set(['a', 'b'])), undefined);
  });
  it('cut off from its node: the same task once the node is connected again, unless it was replaced', () => {
    const cut = task('a', 1, '2026-01-10T12:00:00Z');
    let connected = false;
    const isConnected = () => connected;
    assert.equal(resumeTarget(cut, [cut], new Set(['a']), isConnected), undefined, 'node still away');
    connected = true;
    assert.equal(resumeTarget(cut, [cut], new Set(['a']), isConnected)?.id, 'a', 'node back, task still runs there');
    const orphaned = task('a', 1, '2026-01-10T12:00:00Z', { status: { state: 'orphaned', timestamp: 'x' } });
    const next = task('b', 1, '2026-01-10T12:01:01Z', { nodeId: 'n2' });
    assert.equal(resumeTarget(cut, [orphaned, next], new Set(['a']), isConnected)?.id, 'b', 'replaced: the successor');
  });
  it('orders log times with nanoseconds whose trailing zeros are trimmed', () => {
    const ascending = [
      '2026-01-10T12:00:00Z',
      '2026-01-10T12:00:00.000000001Z',
      '2026-01-10T13:00:00.05+01:00',
      '2026-01-10T12:00:00.1Z',
      '2026-01-10T12:00:00.123456789Z',
      '2026-01-10T12:00:00.2Z',
      '2026-01-10T12:00:01Z',
    ].map((t) => timeKey(t)!);
    for (let i = 1; i < ascending.length; i++) assert.ok(ascending[i - 1]! < ascending[i]!, `${i - 1} before ${i}: ${ascending.join(' ')}`);
    assert.equal(timeKey('yesterday'), undefined);
  });
  it('a service shows the running tasks only, by slot', () => {
    const t2 = task('c', 2, '2026-01-10T12:00:00Z');
    const t1 = task('b', 1, '2026-01-10T12:01:01Z');
    const stopping = task('d', 3, '2026-01-10T12:00:00Z', { desiredState: 'shutdown' });
    assert.deepEqual(liveTasks([t2, ended, stopping, t1]).map((t) => t.id), ['b', 'c']);
  });
});
