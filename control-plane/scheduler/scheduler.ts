// The scheduler: gives each pending task a node.
//
// Owns: the move of a task from `pending` to `assigned` (setting `nodeId`), and the
// `Unschedulable` explanation on a pending task no node can take.
// Must not: create, shut down or delete tasks (the orchestrator does), touch a task from
// `assigned` on (the agent reports those states through the dispatcher), or write nodes.
//
// The loop watches tasks and nodes through informers, gathers changes for a few milliseconds
// so a burst of thousands of new tasks is one pass, decides with the pure `placeTasks`
// (placement.ts), and commits the decisions in batched, version-conditional transactions
// (writes.ts). See README.md for the whole pipeline.
import type { Logger } from '../../common/log.js';
import type { Node, Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor, type SharedInformers } from '../store/shared-informers.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { isSchedulable, nextRestartAt, placeTasksOn } from './placement.js';
import { nodeChangeMatters, taskChangeMatters } from './triggers.js';
import { planWrites } from './writes.js';
import type { EventRecorder } from '../events/recorder.js';
import { placementEvent } from './placement-events.js';
import { UsageTally } from './usage-tally.js';

export interface SchedulerOptions {
  store: Store;
  logger: Logger;
  /** Where to record placements and unschedulable tasks. */
  events?: EventRecorder;
  /** Quiet time to gather store changes into one pass (default 20 ms). */
  batchDelayMs?: number;
  /** Longest a change waits for its pass while changes keep coming (default 20 x batchDelayMs). */
  maxDelayMs?: number;
  /** Wait before retrying a pass that failed on the store (default 1000 ms). */
  retryMs?: number;
  /** The process's informers to subscribe to (the server's); without them, the scheduler watches on its own. */
  informers?: SharedInformers;
}

interface CompiledOptions {
  batchDelayMs: number;
  maxDelayMs: number;
  retryMs: number;
}

function compile(opts: SchedulerOptions): CompiledOptions {
  const batchDelayMs = Math.max(0, opts.batchDelayMs ?? 20);
  return {
    batchDelayMs,
    maxDelayMs: Math.max(batchDelayMs, opts.maxDelayMs ?? 20 * batchDelayMs),
    retryMs: opts.retryMs ?? 1000,
  };
}

export interface SchedulerStats {
  passes: number;
  placed: number;
  conflicts: number;
}

export class Scheduler {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly opts: CompiledOptions;
  private readonly events: EventRecorder | undefined;
  private readonly tasks: Informer<Task>;
  private readonly nodes: Informer<Node>;
  private readonly release: (() => Promise<void>)[];
  /**
   * Tasks this scheduler wrote that its cache has not shown back yet, each with the version it
   * was decided from. Without them, a pass right after a commit would see the placed tasks
   * still pending and free, and could book their nodes twice.
   */
  private readonly written = new Map<string, Task>();
  /** Usage per node of the tasks holding it, as the task view shows them: kept, not rebuilt. */
  private readonly usage = new UsageTally();
  /** Pending tasks still wanted, as the task view shows them, by key. */
  private readonly pending = new Map<string, Task>();
  private readonly counters: SchedulerStats = { passes: 0, placed: 0, conflicts: 0 };
  private started = false;
  private stopped = false;
  private dirty = false;
  private firstChangeAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Wakes the loop when the earliest restart backoff of a pending task is over. */
  private backoffTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  private running: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private onStop: () => void = () => undefined;
  private readonly stopping = new Promise<void>((resolve) => (this.onStop = resolve));

  constructor(opts: SchedulerOptions) {
    this.store = opts.store;
    this.log = opts.logger.child({ component: 'scheduler' });
    this.opts = compile(opts);
    this.events = opts.events;
    const tasks = informerFor<Task>(opts.informers?.tasks, {
      store: this.store,
      prefix: keys.tasks,
      logger: this.log,
      onEvent: (ev) => this.onTaskEvent(ev),
    });
    const nodes = informerFor<Node>(opts.informers?.nodes, {
      store: this.store,
      prefix: keys.nodes,
      logger: this.log,
      onEvent: (ev) => {
        if (nodeChangeMatters(ev.previous, ev.type === 'put' ? ev.value : undefined)) this.requestPass();
      },
    });
    this.tasks = tasks.informer;
    this.nodes = nodes.informer;
    this.release = [tasks.release, nodes.release];
  }

  /** Starts watching; resolves once both caches are filled and the first pass is due. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.tasks.start();
    this.nodes.start();
    // A stop before the caches fill (etcd unreachable, say) must not leave start() hanging.
    await Promise.race([Promise.all([this.tasks.synced, this.nodes.synced]), this.stopping]);
    // The informer reports changes after its first list, not the list itself.
    for (const key of this.tasks.cache.keys()) this.refresh(key);
    this.requestPass();
  }

  /** Stops watching and waits for a pass in flight. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.running;
      return;
    }
    this.stopped = true;
    this.onStop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.backoffTimer) clearTimeout(this.backoffTimer.timer);
    this.backoffTimer = undefined;
    await Promise.all(this.release.map((r) => r()));
    await this.running;
    this.wakeIdle();
  }

  /**
   * Resolves when no pass is running or due. Changes the store has not delivered yet are not
   * known here: callers that just wrote should first wait for the effect they expect.
   */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get stats(): Readonly<SchedulerStats> {
    return { ...this.counters };
  }

  private onTaskEvent(ev: InformerEvent<Task>): void {
    const next = ev.type === 'put' ? ev.value : undefined;
    const mine = this.written.get(ev.key);
    if (mine && (!next || (next.version ?? 0) > (mine.version ?? 0))) this.written.delete(ev.key);
    this.refresh(ev.key);
    if (taskChangeMatters(ev.previous, next)) this.requestPass();
  }

  /** The task at `key` as this scheduler sees it: its own write until the cache shows it back. */
  private viewOf(key: string): Task | undefined {
    const cached = this.tasks.cache.get(key);
    const mine = this.written.get(key);
    if (!cached) {
      if (mine) this.written.delete(key); // deleted meanwhile
      return undefined;
    }
    if (mine && (cached.version ?? 0) <= (mine.version ?? 0)) return mine;
    if (mine) this.written.delete(key);
    return cached;
  }

  /** Brings the node usage and the pending set up to date with the task at `key`. */
  private refresh(key: string): void {
    const task = this.viewOf(key);
    this.usage.set(key, task);
    if (task && isSchedulable(task)) this.pending.set(key, task);
    else this.pending.delete(key);
  }

  /** Marks the state dirty and arms the timer: quiet time, but never past the longest delay. */
  private requestPass(): void {
    if (this.stopped || !this.started) return;
    this.dirty = true;
    if (this.running) return; // the pass re-arms when it ends
    const now = Date.now();
    this.firstChangeAt ??= now;
    const wait = Math.max(0, Math.min(this.opts.batchDelayMs, this.firstChangeAt + this.opts.maxDelayMs - now));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.runPass(), wait);
  }

  private runPass(): void {
    this.timer = undefined;
    if (this.stopped) return;
    this.dirty = false;
    this.firstChangeAt = undefined;
    this.running = this.pass()
      .catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'scheduling pass failed; retrying');
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.requestPass();
        }, this.opts.retryMs);
      })
      .finally(() => {
        this.running = undefined;
        if (this.timer) return; // a retry is armed
        if (this.dirty) this.requestPass();
        else this.wakeIdle();
      });
  }

  private async pass(): Promise<void> {
    const nowMs = Date.now();
    const waiting = [...this.pending.values()];
    const pending = waiting.filter((t) => isSchedulable(t, nowMs));
    this.armBackoffWake(nextRestartAt(waiting, nowMs));
    if (pending.length === 0) return;
    this.counters.passes++;
    const nodes = this.nodes.values();
    const result = placeTasksOn(pending, this.usage.infos(nodes));
    const plan = planWrites(
      result,
      new Map(pending.map((t) => [t.id, t])),
      new Map(nodes.map((n) => [n.id, n])),
      new Date().toISOString(),
    );
    if (plan.ops.length === 0) return;
    const { conflicts } = await this.store.batch(plan.ops);
    const refused = new Set(conflicts);
    let placed = 0;
    for (const [key, task] of plan.written) {
      if (refused.has(key)) continue;
      if (task.status.state === 'assigned') placed++;
      const event = placementEvent(task);
      if (event) this.events?.record(event);
      // The cache may already show the write (or a later one): then it needs no stand-in.
      if ((this.tasks.cache.get(key)?.version ?? 0) > (task.version ?? 0)) continue;
      this.written.set(key, task);
      this.refresh(key);
    }
    this.counters.placed += placed;
    this.counters.conflicts += conflicts.length;
    this.log.info(
      { pending: pending.length, placed, unplaceable: result.unplaceable.length, writes: plan.ops.length, conflicts: conflicts.length },
      'scheduling pass',
    );
  }

  /** One timer for the earliest backoff end; a later pass re-arms it for the next one. */
  private armBackoffWake(at: number | undefined): void {
    if (this.stopped || at === undefined) return;
    if (this.backoffTimer && this.backoffTimer.at <= at) return;
    if (this.backoffTimer) clearTimeout(this.backoffTimer.timer);
    const timer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.requestPass();
    }, Math.max(0, at - Date.now()) + 5);
    this.backoffTimer = { at, timer };
  }

  private isIdle(): boolean {
    return this.stopped || (!this.running && !this.timer && !this.dirty);
  }

  private wakeIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
