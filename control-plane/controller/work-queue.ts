// The work queue and loop every controller runs on: informer events add keys, the loop hands
// the keys that are ready to the controller's pass (plan, then apply), one pass at a time.
//
//   add(key)            ready after the quiet time (a burst of adds is one pass), but never
//                       later than maxDelayMs after the first add of the burst; a key waiting
//                       is there once; a key added during a pass is processed again after it
//   addAfter(key, ms)   wake-up: added once `ms` have passed (the earliest time asked wins)
//   retry(key, err?)    added again after a backoff growing per consecutive failure of the
//                       key (retry-backoff.ts); with `err`, the work failed (logged once per
//                       outage, failure-log.ts); an add meanwhile waits for the backoff's end
//   forget(key)         the key's work succeeded: its backoff starts again from the beginning.
//                       A key of a pass that was not retried during it is forgotten by itself.
//
// A pass that throws is retried with backoff for all its keys. Delays share one timer
// (delay-heap.ts), the quiet time another, so an add costs a set insertion and no timer.
//
// Owns: when a controller's pass runs and with which keys. Must not: know what the keys mean.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import { controllerPassSeconds } from '../metrics/instruments.js';
import { DelayHeap } from './delay-heap.js';
import { FailureLog } from './failure-log.js';
import { retryDelay, type RetryBackoffOptions } from './retry-backoff.js';

export interface WorkQueueOptions<K> {
  /** The controller's logger (its `component` names it in the failure lines). */
  logger: Logger;
  /** Names the queue in its log lines, where the logger's component does not say enough. */
  name?: string;
  /** One pass over `keys` (all keys ready, or one with `batch: false`). */
  process: (keys: K[]) => Promise<void> | void;
  /** All ready keys in one pass (default), or one key per pass. */
  batch?: boolean;
  /** Quiet time gathering adds before a pass (default 0: the next turn of the event loop). */
  quietMs?: number;
  /** Longest a key waits for its pass while adds keep coming (default quietMs: a fixed delay). */
  maxDelayMs?: number;
  /** Retry backoff (default 100 ms doubling up to 5 s, 20% jitter). */
  backoff?: RetryBackoffOptions;
}

export class WorkQueue<K> {
  private readonly ready = new Set<K>();
  private readonly delayed = new DelayHeap<K>();
  /** Consecutive failures per key (absent: none). */
  private readonly failures = new Map<K, number>();
  /** Keys whose last failure was an error (not a conflict): their success ends an outage. */
  private readonly errored = new Set<K>();
  private readonly failureLog: FailureLog;
  private readonly quietMs: number;
  private readonly maxDelayMs: number;
  private passTimer: NodeJS.Timeout | undefined;
  private delayTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  private burstStart = 0;
  private lastAdd = 0;
  private running: Promise<void> | undefined;
  /** Keys of the running pass retried during it (not forgotten when it ends). */
  private retriedInPass = new Set<K>();
  /** A pass runs (set before it starts: a pass may add keys before its first await). */
  private inPass = false;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  /** The controller's name in the pass-duration metric: the queue's name, or its logger's component. */
  private readonly metricName: string;

  constructor(private readonly opts: WorkQueueOptions<K>) {
    const component = (opts.logger.bindings() as { component?: unknown }).component;
    this.metricName = opts.name ?? (typeof component === 'string' ? component : 'controller');
    this.failureLog = new FailureLog(opts.name ? opts.logger.child({ queue: opts.name }) : opts.logger);
    this.quietMs = Math.max(0, opts.quietMs ?? 0);
    this.maxDelayMs = Math.max(this.quietMs, opts.maxDelayMs ?? this.quietMs);
  }

  /** Starts passes (keys added before wait for it). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.arm();
    this.armDelay();
  }

  /**
   * Stops passes and timers, and waits for the pass in flight. With `finalPass`, then runs one
   * last pass with every key still waiting, delayed ones too (its errors are logged, not
   * retried). Safe to call more than once.
   */
  stop(opts: { finalPass?: boolean } = {}): Promise<void> {
    this.stopping ??= this.stopOnce(opts);
    return this.stopping;
  }

  private async stopOnce(opts: { finalPass?: boolean }): Promise<void> {
    this.stopped = true;
    if (this.passTimer) clearTimeout(this.passTimer);
    this.passTimer = undefined;
    if (this.delayTimer) clearTimeout(this.delayTimer.timer);
    this.delayTimer = undefined;
    await this.running;
    const rest = new Set([...this.ready, ...this.delayed.takeAll()]);
    this.ready.clear();
    if (opts.finalPass && rest.size) {
      try {
        await this.opts.process([...rest]);
      } catch (err) {
        this.opts.logger.warn({ err: errorMessage(err), keys: rest.size }, 'last pass failed');
      }
    }
    this.wakeIdle();
  }

  add(key: K): void {
    if (this.stopped) return;
    if (this.delayed.isRetrying(key)) return; // added when its backoff ends
    this.ready.add(key);
    this.lastAdd = Date.now();
    this.arm();
  }

  /** Adds `key` once `ms` have passed (or earlier, if it was asked for earlier). */
  addAfter(key: K, ms: number): void {
    this.delay(key, ms, false);
  }

  /**
   * The work of `key` must be done again, after its backoff; returns the wait. With `err`, the
   * work failed (a store error), as opposed to lost a race (a conflict).
   */
  retry(key: K, err?: unknown): number {
    return this.retryAll([key], err);
  }

  /** `retry` for several keys that failed together: one wait for all, so they stay one pass. */
  retryAll(keys: Iterable<K>, err?: unknown): number {
    let most = 0;
    const list = [...keys];
    for (const key of list) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      most = Math.max(most, n);
      if (this.inPass) this.retriedInPass.add(key);
      if (err !== undefined) this.errored.add(key);
    }
    if (!list.length) return 0;
    const wait = retryDelay(most, this.opts.backoff);
    for (const key of list) this.delay(key, wait, true);
    if (err !== undefined) this.failureLog.failed(err, list.length);
    return wait;
  }

  /** The key's work succeeded: its next failure waits the shortest backoff again. */
  forget(key: K): void {
    if (this.failures.size === 0) return;
    this.failures.delete(key);
    if (this.errored.delete(key)) this.failureLog.recovered();
  }

  /** Consecutive failures of `key`. */
  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** Whether a store outage is under way (some work failed and none of it succeeded since). */
  get failing(): boolean {
    return this.failureLog.failing;
  }

  /** Runs a pass with the ready keys now, without the quiet time (while one runs: no-op, they go next). */
  runNow(): void {
    if (!this.started || this.stopped || this.inPass || !this.ready.size) return;
    if (this.passTimer) clearTimeout(this.passTimer);
    this.passTimer = undefined;
    this.runPass();
  }

  /**
   * Resolves when no pass is running or due and no key waits out a retry backoff (keys waiting
   * for a wake-up do not count).
   */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private delay(key: K, ms: number, retry: boolean): void {
    if (this.stopped) return;
    const at = Date.now() + Math.max(0, ms);
    if (this.delayed.set(key, at, retry)) this.armDelay();
  }

  /** Arms the quiet-time timer for a burst of adds (none while a pass runs: it re-arms). */
  private arm(): void {
    if (!this.started || this.stopped || this.inPass || this.passTimer || !this.ready.size) return;
    this.burstStart = Date.now();
    this.passTimer = setTimeout(() => this.onPassTimer(), this.quietMs);
  }

  /** Quiet time over (no add for quietMs), or the burst's longest delay reached: run. */
  private onPassTimer(): void {
    this.passTimer = undefined;
    if (this.stopped) return;
    const due = Math.min(this.lastAdd + this.quietMs, this.burstStart + this.maxDelayMs);
    const wait = due - Date.now();
    if (wait > 0) {
      this.passTimer = setTimeout(() => this.onPassTimer(), wait);
      return;
    }
    this.runPass();
  }

  private runPass(): void {
    let keys: K[];
    if (this.opts.batch === false) {
      const first = this.ready.values().next().value as K;
      this.ready.delete(first);
      keys = [first];
    } else {
      keys = [...this.ready];
      this.ready.clear();
    }
    this.retriedInPass = new Set();
    this.inPass = true;
    this.running = this.pass(keys).finally(() => {
      this.running = undefined;
      this.inPass = false;
      if (this.failures.size) for (const key of keys) if (!this.retriedInPass.has(key)) this.forget(key);
      this.arm();
      this.wakeIdle();
    });
  }

  private async pass(keys: K[]): Promise<void> {
    const done = controllerPassSeconds.startTimer({ controller: this.metricName });
    try {
      await this.opts.process(keys);
    } catch (err) {
      this.retryAll(keys.filter((k) => !this.retriedInPass.has(k)), err);
    } finally {
      done();
    }
  }

  /** One timer for the earliest delayed key. */
  private armDelay(): void {
    if (!this.started || this.stopped) return;
    const at = this.delayed.peekTime();
    if (at === undefined || (this.delayTimer && this.delayTimer.at <= at)) return;
    if (this.delayTimer) clearTimeout(this.delayTimer.timer);
    const timer = setTimeout(() => this.onDelayTimer(), Math.max(0, at - Date.now()));
    timer.unref();
    this.delayTimer = { at, timer };
  }

  private onDelayTimer(): void {
    this.delayTimer = undefined;
    if (this.stopped) return;
    for (const key of this.delayed.takeDue(Date.now())) this.add(key);
    this.armDelay();
    this.wakeIdle();
  }

  private isIdle(): boolean {
    return this.stopped || (!this.inPass && !this.passTimer && !this.ready.size && !this.delayed.anyRetrying());
  }

  private wakeIdle(): void {
    if (!this.idleWaiters.length || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
