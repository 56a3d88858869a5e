// The controllers' work queue: dedup, one pass at a time, batching, quiet time with a longest
// delay, wake-ups, retry backoff, and one log line per outage and per recovery.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { StoreUnavailableError } from '../../common/errors.js';
import { DelayHeap } from '../../control-plane/controller/delay-heap.js';
import { retryDelay } from '../../control-plane/controller/retry-backoff.js';
import { WorkQueue, type WorkQueueOptions } from '../../control-plane/controller/work-queue.js';
import { EventRecorder, MAX_BUFFERED } from '../../control-plane/events/recorder.js';
import type { Store } from '../../control-plane/store/store.js';
import { StatusWriter } from '../../control-plane/dispatcher/status-writer.js';
import type { TaskView } from '../../control-plane/dispatcher/task-view.js';
import type { Task } from '../../common/types.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A logger writing JSON lines into `lines`. */
function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(2);
  }
}

const queues: WorkQueue<string>[] = [];
function queue(opts: Omit<WorkQueueOptions<string>, 'logger'> & { logger?: Logger }): WorkQueue<string> {
  const q = new WorkQueue<string>({ logger: silent, ...opts });
  queues.push(q);
  q.start();
  return q;
}

describe('controller work queue', () => {
  afterEach(async () => {
    await Promise.all(queues.splice(0).map((q) => q.stop()));
  });

  describe('retryDelay', () => {
    it('doubles from 100 ms up to a 5 s cap, without jitter', () => {
      const none = { random: () => 0 };
      assert.deepEqual(
        [1, 2, 3, 4, 5, 6, 7, 8, 50].map((n) => retryDelay(n, none)),
        [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
      );
    });

    it('takes off up to 20% at random, and never goes over the cap', () => {
      assert.equal(retryDelay(1, { random: () => 0.5 }), 90);
      assert.ok(retryDelay(1, { random: () => 0.999 }) >= 80);
      for (let i = 0; i < 100; i++) {
        const d = retryDelay(20);
        assert.ok(d >= 4000 && d <= 5000, String(d));
      }
      assert.equal(retryDelay(3, { baseMs: 10, maxMs: 30, random: () => 0 }), 30);
    });
  });

  describe('DelayHeap', () => {
    it('gives keys back earliest first, each once, keeping the earliest time asked for', () => {
      const h = new DelayHeap<string>();
      const times = [50, 10, 40, 30, 20, 60];
      times.forEach((t, i) => h.set(`k${i}`, t, false));
      assert.equal(h.set('k0', 70, false), false, 'a later time does not replace an earlier one');
      assert.equal(h.set('k5', 5, true), true);
      assert.equal(h.peekTime(), 5);
      assert.ok(h.isRetrying('k5'));
      assert.deepEqual(h.takeDue(25), ['k5', 'k1', 'k4']);
      h.delete('k3');
      assert.deepEqual(h.takeDue(100), ['k2', 'k0']);
      assert.equal(h.size, 0);
      assert.equal(h.peekTime(), undefined);
    });
  });

  it('a key added many times while waiting is processed once; all ready keys make one pass', async () => {
    const passes: string[][] = [];
    const q = queue({ quietMs: 5, process: (keys) => void passes.push(keys) });
    for (const k of ['a', 'b', 'a', 'c', 'a']) q.add(k);
    await until(() => passes.length === 1);
    await sleep(20);
    assert.deepEqual(passes, [['a', 'b', 'c']]);
  });

  it('without batching, one key per pass, never two passes at once', async () => {
    const passes: string[][] = [];
    let inPass = 0;
    let overlap = false;
    const q = queue({
      batch: false,
      process: async (keys) => {
        if (++inPass > 1) overlap = true;
        passes.push(keys);
        await sleep(5);
        inPass--;
      },
    });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await until(() => passes.length === 3);
    assert.deepEqual(passes, [['a'], ['b'], ['c']]);
    assert.equal(overlap, false);
  });

  it('a key added during its own pass is processed again after that pass', async () => {
    const passes: string[][] = [];
    let inPass = 0;
    let overlap = false;
    const q = queue({
      process: async (keys) => {
        if (++inPass > 1) overlap = true;
        passes.push(keys);
        if (passes.length === 1) q.add('a');
        await sleep(10);
        inPass--;
      },
    });
    q.add('a');
    await until(() => passes.length === 2);
    assert.deepEqual(passes, [['a'], ['a']]);
    assert.equal(overlap, false);
  });

  it('quiet time: adds that keep coming delay the pass, but no longer than maxDelayMs', async () => {
    const at: number[] = [];
    const q = queue({ quietMs: 30, maxDelayMs: 100, process: () => void at.push(Date.now()) });
    const start = Date.now();
    const feeding = (async () => {
      while (Date.now() - start < 250) {
        q.add('k');
        await sleep(5);
      }
    })();
    await until(() => at.length >= 1);
    await feeding;
    const first = at[0]! - start;
    assert.ok(first >= 95, `first pass at ${first} ms: the quiet time was not waited`);
    assert.ok(first < 250, `first pass at ${first} ms: the longest delay was not honoured`);
  });

  it('quiet time alone: a single add waits quietMs, then runs', async () => {
    const at: number[] = [];
    const q = queue({ quietMs: 40, maxDelayMs: 400, process: () => void at.push(Date.now()) });
    const start = Date.now();
    q.add('k');
    await until(() => at.length === 1);
    const waited = at[0]! - start;
    assert.ok(waited >= 38 && waited < 300, `waited ${waited} ms`);
  });

  it('keys added before start wait for it', async () => {
    const passes: string[][] = [];
    const q = new WorkQueue<string>({ logger: silent, process: (keys) => void passes.push(keys) });
    queues.push(q);
    q.add('a');
    await sleep(20);
    assert.equal(passes.length, 0);
    q.start();
    await until(() => passes.length === 1);
  });

  it('addAfter wakes a key up later; the earliest time asked for wins', async () => {
    const at: number[] = [];
    const q = queue({ process: () => void at.push(Date.now()) });
    const start = Date.now();
    q.addAfter('k', 200);
    q.addAfter('k', 40);
    await until(() => at.length === 1);
    await sleep(250);
    assert.equal(at.length, 1, 'the later wake-up was folded into the earlier one');
    assert.ok(at[0]! - start >= 38, `woke after ${at[0]! - start} ms`);
    await q.whenIdle();
  });

  it('a failing pass is retried with growing delays; success forgets the failures', async () => {
    const at: number[] = [];
    const q = queue({
      backoff: { baseMs: 20, maxMs: 1000, jitter: 0 },
      process: () => {
        at.push(Date.now());
        if (at.length <= 4) throw new StoreUnavailableError('etcd down');
      },
    });
    q.add('k');
    await until(() => at.length === 5);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 20, 40, 80, 160 ms (timers never fire early by more than a millisecond).
    [20, 40, 80, 160].forEach((want, i) => assert.ok(gaps[i]! >= want - 2, `retry ${i + 1} after ${gaps[i]} ms, want >= ${want}`));
    assert.ok(gaps[3]! > gaps[0]!);
    await q.whenIdle();
    assert.equal(q.failuresOf('k'), 0);
  });

  it('a key retried by its pass keeps its count; keys of the pass not retried are forgotten', async () => {
    let n = 0;
    const q = queue({
      backoff: { baseMs: 10, jitter: 0 },
      process: (keys) => {
        n++;
        if (n <= 2 && keys.includes('bad')) q.retry('bad', new Error('boom'));
      },
    });
    q.add('bad');
    q.add('good');
    await until(() => n === 2);
    assert.equal(q.failuresOf('bad'), 2);
    assert.equal(q.failuresOf('good'), 0);
    await until(() => n === 3);
    await q.whenIdle();
    assert.equal(q.failuresOf('bad'), 0);
  });

  it('an add during a retry backoff waits for the backoff to end', async () => {
    const at: number[] = [];
    const q = queue({
      backoff: { baseMs: 150, jitter: 0 },
      process: () => {
        at.push(Date.now());
        if (at.length === 1) throw new Error('boom');
      },
    });
    q.add('k');
    await until(() => at.length === 1);
    q.add('k');
    await sleep(50);
    assert.equal(at.length, 1, 'the add did not cut the backoff short');
    await until(() => at.length === 2);
    assert.ok(at[1]! - at[0]! >= 148);
  });

  it('a conflict (retry without an error) backs off but is not an outage', async () => {
    const { logger, lines } = capture();
    let n = 0;
    const q = queue({
      logger,
      backoff: { baseMs: 5, jitter: 0 },
      process: (keys) => {
        if (++n === 1) q.retryAll(keys);
      },
    });
    q.add('k');
    await until(() => n === 2);
    await q.whenIdle();
    assert.equal(q.failing, false);
    assert.deepEqual(lines, []);
  });

  it('an outage logs one line when it starts and one when it ends, not one per retry', async () => {
    const { logger, lines } = capture();
    const at: number[] = [];
    const applied: string[][] = [];
    // A fake applier: its store calls fail 6 times, then work.
    const apply = (keys: string[]) => {
      at.push(Date.now());
      if (at.length <= 6) throw new StoreUnavailableError('etcd: connection refused');
      applied.push(keys);
    };
    const q = queue({ logger: logger.child({ component: 'orchestrator' }), backoff: { baseMs: 5, maxMs: 1000, jitter: 0.2 }, process: apply });
    q.add('web');
    q.add('db');
    await until(() => applied.length === 1);
    await q.whenIdle();
    assert.deepEqual(applied, [['web', 'db']]);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // The delays grow: 5, 10, 20, 40, 80, 160 ms less up to 20% jitter.
    assert.ok(gaps[5]! > gaps[1]!, `gaps ${gaps.join(', ')}`);
    assert.ok(gaps[5]! >= 160 * 0.8 - 2, `gaps ${gaps.join(', ')}`);

    const info = lines.filter((l) => (l.level as number) >= 30);
    assert.equal(info.length, 2, JSON.stringify(info));
    const [failing, recovered] = info;
    assert.equal(failing!.msg, 'work failing; retrying with backoff');
    assert.equal(failing!.level, 40);
    assert.equal(failing!.component, 'orchestrator');
    assert.match(String(failing!.err), /store unavailable: etcd: connection refused/);
    assert.equal(recovered!.msg, 'work recovered');
    assert.equal(recovered!.level, 30);
    assert.equal(recovered!.retries, 5);
    assert.ok((recovered!.failedForMs as number) >= gaps.slice(0, 6).reduce((a, b) => a + b) - 5);
    assert.equal(q.failing, false);
  });

  it('stop is idempotent, waits for the pass in flight, and runs no pass after', async () => {
    let passes = 0;
    let release!: () => void;
    const q = queue({
      process: async () => {
        passes++;
        await new Promise<void>((r) => (release = r));
      },
    });
    q.add('a');
    await until(() => passes === 1);
    q.add('b');
    q.addAfter('c', 10);
    let stopped = false;
    const s1 = q.stop().then(() => (stopped = true));
    const s2 = q.stop();
    await sleep(20);
    assert.equal(stopped, false, 'stop waits for the pass in flight');
    release();
    await Promise.all([s1, s2]);
    q.add('d');
    await sleep(30);
    assert.equal(passes, 1);
  });

  it('stop with a last pass hands over every key still waiting, delayed ones too', async () => {
    const passes: string[][] = [];
    const q = queue({ quietMs: 1000, process: (keys) => void passes.push(keys) });
    q.add('a');
    q.addAfter('b', 10_000);
    q.retry('c', new Error('boom'));
    await q.stop({ finalPass: true });
    assert.deepEqual(passes.map((p) => [...p].sort()), [['a', 'b', 'c']]);
  });

  it('whenIdle waits for a retry backoff, not for a wake-up', async () => {
    let n = 0;
    const q = queue({
      backoff: { baseMs: 60, jitter: 0 },
      process: () => {
        if (++n === 1) throw new Error('boom');
      },
    });
    q.add('k');
    await until(() => n === 1);
    const start = Date.now();
    await q.whenIdle();
    assert.equal(n, 2);
    assert.ok(Date.now() - start >= 50);
    q.addAfter('later', 10_000);
    await q.whenIdle();
  });

  it('runNow skips the quiet time', async () => {
    const passes: string[][] = [];
    const q = queue({ quietMs: 10_000, process: (keys) => void passes.push(keys) });
    q.add('a');
    q.runNow();
    assert.deepEqual(passes, [['a']], 'the pass began at once');
    await q.whenIdle();
  });
});

describe('event recorder on the work queue', () => {
  it('keeps events through a store outage, logs it once and its end once, then writes them', async () => {
    const { logger, lines } = capture();
    let failing = 5;
    const attempts: number[] = [];
    const written: unknown[] = [];
    const store = {
      grantLease: () => Promise.resolve('1'),
      batch: (ops: { value: { items: unknown[] } }[]) => {
        attempts.push(Date.now());
        if (failing-- > 0) return Promise.reject(new StoreUnavailableError('etcd: deadline exceeded'));
        for (const op of ops) written.push(...op.value.items);
        return Promise.resolve({ conflicts: [], revision: 1 });
      },
    } as unknown as Store;
    const rec = new EventRecorder({ store, logger, flushMs: 5 });
    try {
      for (let i = 0; i < 3; i++) rec.record({ type: 'Normal', reason: 'Test', object: { kind: 'node', name: `n${i}` }, message: 'm' });
      await until(() => written.length === 3);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
      assert.ok(gaps[4]! > gaps[0]!, `gaps ${gaps.join(', ')}`);
      const loud = lines.filter((l) => (l.level as number) >= 30);
      assert.deepEqual(
        loud.map((l) => [l.component, l.msg]),
        [
          ['events', 'work failing; retrying with backoff'],
          ['events', 'work recovered'],
        ],
      );
      assert.equal(loud[1]!.retries, 4);
    } finally {
      await rec.stop();
    }
  });

  it('with the store up, writes any number of events of one flush (the cap is for outages only)', async () => {
    const written: unknown[] = [];
    const store = {
      grantLease: () => Promise.resolve('1'),
      batch: (ops: { value: { items: unknown[] } }[]) => {
        for (const op of ops) written.push(...op.value.items);
        return Promise.resolve({ conflicts: [], revision: 1 });
      },
    } as unknown as Store;
    const rec = new EventRecorder({ store, logger: silent, flushMs: 5 });
    try {
      for (let i = 0; i < 2 * MAX_BUFFERED; i++) rec.record({ type: 'Normal', reason: 'Test', object: { kind: 'node', name: `n${i}` }, message: 'm' });
      await until(() => written.length === 2 * MAX_BUFFERED);
    } finally {
      await rec.stop();
    }
  });

  it('drops the oldest events beyond its buffer while the store is down, and says how many', async () => {
    const { logger, lines } = capture();
    let down = true;
    const written: { id: string }[] = [];
    const store = {
      grantLease: () => Promise.resolve('1'),
      batch: (ops: { value: { items: { id: string }[] } }[]) => {
        if (down) return Promise.reject(new StoreUnavailableError('down'));
        for (const op of ops) written.push(...op.value.items);
        return Promise.resolve({ conflicts: [], revision: 1 });
      },
    } as unknown as Store;
    const rec = new EventRecorder({ store, logger, flushMs: 1 });
    try {
      for (let i = 0; i < MAX_BUFFERED + 10; i++) rec.record({ type: 'Normal', reason: 'Test', object: { kind: 'node', name: `n${i}` }, message: 'm' });
      await sleep(20);
      down = false;
      await until(() => written.length > 0);
      assert.equal(written.length, MAX_BUFFERED);
      assert.ok(lines.some((l) => l.msg === 'events dropped while the store was unreachable' && l.dropped === 10));
    } finally {
      await rec.stop();
    }
  });
});

describe('status writer on the work queue', () => {
  it('an etcd outage: reports wait with growing delays, one line when it starts, one when it ends, the latest report written', async () => {
    const { logger, lines } = capture();
    const task: Task = {
      id: 't1',
      name: 'web.1',
      serviceName: 'web',
      slot: 1,
      serviceVersion: 1,
      spec: { image: 'nginx' },
      desiredState: 'running',
      nodeId: 'n1',
      status: { state: 'assigned', timestamp: '2024-01-01T00:00:00.000Z' },
      createdAt: '2024-01-01T00:00:00.000Z',
      version: 7,
    };
    const index = { get: () => task, keyOf: () => 'tasks/web/t1', noteWritten: () => undefined } as unknown as TaskView;
    const attempts: number[] = [];
    const written: Task[] = [];
    let failing = 5;
    const store = {
      txn: (ops: { value: Task }[]) => {
        attempts.push(Date.now());
        if (failing-- > 0) return Promise.reject(new StoreUnavailableError('etcd: connection refused'));
        written.push(...ops.map((o) => o.value));
        return Promise.resolve(8);
      },
    } as unknown as Store;
    const writer = new StatusWriter({ store, index, logger: logger.child({ component: 'dispatcher' }) });
    try {
      writer.submit('n1', [{ taskId: 't1', status: { state: 'starting', timestamp: '2024-01-01T00:00:01.000Z' } }]);
      await until(() => attempts.length === 2);
      // A newer report during the outage replaces the waiting one.
      writer.submit('n1', [{ taskId: 't1', status: { state: 'running', timestamp: '2024-01-01T00:00:02.000Z' } }]);
      await until(() => written.length === 1);
      assert.equal(written[0]!.status.state, 'running');
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
      assert.ok(gaps[4]! > gaps[0]! && gaps[4]! >= 1600 * 0.8 - 2, `gaps ${gaps.join(', ')}`);
      const loud = lines.filter((l) => (l.level as number) >= 30);
      assert.deepEqual(
        loud.map((l) => [l.level, l.queue, l.msg]),
        [
          [40, 'status-writer', 'work failing; retrying with backoff'],
          [30, 'status-writer', 'work recovered'],
        ],
      );
      assert.match(String(loud[0]!.err), /connection refused/);
      assert.equal(loud[1]!.retries, 4);
    } finally {
      await writer.stop();
    }
  });
});
