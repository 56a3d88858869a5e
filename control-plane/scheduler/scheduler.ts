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
// (writes.ts). In the server, the orchestrator also asks `placeNew` for the tasks it is about to
// create, so a task that fits somewhere is written once, already assigned, instead of written
// pending and then again assigned. See README.md for the whole pipeline.
//
// The loop is the controllers' work queue (controller/work-queue.ts) with a single key, a pass:
// quiet time batchDelayMs bounded by maxDelayMs, a failed pass retried with backoff, and the
// end of the earliest restart backoff of a pending task as a delayed add.
//
// A pending task whose `spec.dependsOn` is not met (dependencies.ts) is not placed: it stays
// pending with the reason `WaitingForDependency`, and a change of a task of a service it waits
// on brings a pass.
import { schedulingLatencySeconds } from '../metrics/instruments.js';
import type { Logger } from '../../common/log.js';
import type { Node, Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor, taskIndexes, type SharedInformers } from '../store/shared-informers.js';
import type { InformerIndex } from '../store/informer-index.js';
import { dependencyChangeMatters, gateTasks } from './dependencies.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { isSchedulable, nextRestartAt, placeTasksOn } from './placement.js';
import { nodeChangeMatters, taskChangeMatters } from './triggers.js';
import { planWrites } from './writes.js';
import type { EventRecorder } from '../events/recorder.js';
import { placementEvent } from './placement-events.js';
import { scheduledOn } from './reasons.js';
import type { EventInput } from '../../common/events.js';
import { UsageTally } from './usage-tally.js';
import type { Controller } from '../controller/controller.js';
import type { RetryBackoffOptions } from '../controller/retry-backoff.js';
import { WorkQueue } from '../controller/work-queue.js';

export interface SchedulerOptions {
  store: Store;
  logger: Logger;
  /** Where to record placements and unschedulable tasks. */
  events?: EventRecorder;
  /** Quiet time to gather store changes into one pass (default 20 ms). */
  batchDelayMs?: number;
  /** Longest a change waits for its pass while changes keep coming (default 20 x batchDelayMs). */
  maxDelayMs?: number;
  /** Backoff of a pass that failed on the store (default 100 ms doubling up to 5 s). */
  retry?: RetryBackoffOptions;
  /** The process's informers to subscribe to (the server's); without them, the scheduler watches on its own. */
  informers?: SharedInformers;
}

interface CompiledOptions {
  batchDelayMs: number;
  maxDelayMs: number;
}

function compile(opts: SchedulerOptions): CompiledOptions {
  const batchDelayMs = Math.max(0, opts.batchDelayMs ?? 20);
  return {
    batchDelayMs,
    maxDelayMs: Math.max(batchDelayMs, opts.maxDelayMs ?? 20 * batchDelayMs),
  };
}

/** The scheduler's one queue key: its passes look at every pending task. */
const PASS = 'pass';
/** Added to the end of a restart backoff, so the pass finds it over. */
const WAKE_SLACK_MS = 5;

/** What `placeNew` decided: the tasks to write, the events to record once written, the keys booked. */
export interface PlacedNew {
  tasks: Task[];
  events: EventInput[];
  booked: string[];
}

export interface SchedulerStats {
  passes: number;
  placed: number;
  conflicts: number;
}

export class Scheduler implements Controller {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly opts: CompiledOptions;
  private readonly events: EventRecorder | undefined;
  private readonly tasks: Informer<Task>;
  private readonly byService: InformerIndex<Task>;
  /** The services that pending tasks wait on (as of the last pass): their task changes bring a pass. */
  private awaited = new Set<string>();
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
  /**
   * Tasks placed by `placeNew` that the cache has not shown yet: their nodes stay booked until
   * the cache shows them (written) or `releaseNew` gives them back (the write failed).
   */
  private readonly reserved = new Map<string, Task>();
  private synced = false;
  private readonly counters: SchedulerStats = { passes: 0, placed: 0, conflicts: 0 };
  private started = false;
  private stopped = false;
  private readonly queue: WorkQueue<string>;
  private onStop: () => void = () => undefined;
  private readonly stopping = new Promise<void>((resolve) => (this.onStop = resolve));

  constructor(opts: SchedulerOptions) {
    this.store = opts.store;
    this.log = opts.logger.child({ component: 'scheduler' });
    this.opts = compile(opts);
    this.events = opts.events;
    this.queue = new WorkQueue<string>({
      logger: this.log,
      quietMs: this.opts.batchDelayMs,
      maxDelayMs: this.opts.maxDelayMs,
      backoff: opts.retry,
      process: () => this.pass(),
    });
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
    this.byService = taskIndexes(this.tasks).byService;
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
    this.synced = !this.stopped;
    this.queue.start();
    this.requestPass();
  }

  /**
   * Places tasks about to be created (not yet in the store). Returns them as they should be
   * written: assigned to a node where one fits now (with the TaskScheduled event to record once
   * written), else unchanged (pending: a pass explains them once they are in the store). The
   * chosen nodes stay booked until the cache shows the tasks, or `releaseNew` is called for the
   * keys whose write failed. Before the first sync, or stopped, it places nothing.
   */
  placeNew(tasks: readonly Task[], now: string): PlacedNew {
    const none: PlacedNew = { tasks: [...tasks], events: [], booked: [] };
    if (!this.synced || this.stopped || tasks.length === 0) return none;
    const nowMs = Date.parse(now);
    // Tasks held back by their dependencies are created pending; a pass explains them.
    const candidates = this.gate(tasks.filter((t) => isSchedulable(t, nowMs))).free;
    if (candidates.length === 0) return none;
    const nodes = this.nodes.values();
    const result = placeTasksOn(candidates, this.usage.infos(nodes));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const placedOn = new Map(result.placements.map((p) => [p.taskId, byId.get(p.nodeId)]));
    const events: EventInput[] = [];
    const booked: string[] = [];
    const out = tasks.map((t) => {
      const node = placedOn.get(t.id);
      if (!node) return t;
      const placed: Task = { ...t, nodeId: node.id, status: { state: 'assigned', timestamp: now, message: scheduledOn(node.name) } };
      const key = keys.task(t.serviceName, t.id);
      this.reserved.set(key, placed);
      booked.push(key);
      this.refresh(key);
      const event = placementEvent(placed);
      if (event) events.push(event);
      return placed;
    });
    this.counters.placed += result.placements.length;
    // Placed as they are created: no wait (observed here, the write follows with the creation).
    for (let i = 0; i < result.placements.length; i++) schedulingLatencySeconds.observe(0);
    return { tasks: out, events, booked };
  }

  /** Gives back the nodes booked by `placeNew` for tasks whose creation failed. */
  releaseNew(taskKeys: Iterable<string>): void {
    for (const key of taskKeys) {
      if (!this.reserved.delete(key)) continue;
      this.refresh(key);
    }
    this.requestPass();
  }

  /** Stops watching and waits for a pass in flight. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) {
      await this.queue.stop();
      return;
    }
    this.stopped = true;
    this.onStop();
    const stopping = this.queue.stop();
    await Promise.all(this.release.map((r) => r()));
    await stopping;
  }

  /**
   * Resolves when no pass is running or due. Changes the store has not delivered yet are not
   * known here: callers that just wrote should first wait for the effect they expect.
   */
  whenIdle(): Promise<void> {
    return this.queue.whenIdle();
  }

  get stats(): Readonly<SchedulerStats> {
    return { ...this.counters };
  }

  private onTaskEvent(ev: InformerEvent<Task>): void {
    const next = ev.type === 'put' ? ev.value : undefined;
    const mine = this.written.get(ev.key);
    if (mine && (!next || (next.version ?? 0) > (mine.version ?? 0))) this.written.delete(ev.key);
    this.reserved.delete(ev.key); // created (or gone): the cache speaks for it from now on
    this.refresh(ev.key);
    if (taskChangeMatters(ev.previous, next)) this.requestPass();
    else if (this.awaited.has((next ?? ev.previous)?.serviceName ?? '') && dependencyChangeMatters(ev.previous, next)) this.requestPass();
  }

  /** Splits tasks by whether their dependencies are met, from the cache's tasks of each service. */
  private gate(tasks: readonly Task[]): ReturnType<typeof gateTasks> {
    return gateTasks(tasks, (service) => this.byService.get(service)?.values() ?? []);
  }

  /** The task at `key` as this scheduler sees it: its own write until the cache shows it back. */
  private viewOf(key: string): Task | undefined {
    const cached = this.tasks.cache.get(key);
    const mine = this.written.get(key);
    if (!cached) {
      if (mine) this.written.delete(key); // deleted meanwhile
      return this.reserved.get(key); // placed by placeNew, not written yet
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

  /** A pass is due: after the quiet time, but never past the longest delay (the queue's). */
  private requestPass(): void {
    if (this.stopped || !this.started) return;
    this.queue.add(PASS);
  }

  private async pass(): Promise<void> {
    const nowMs = Date.now();
    const waiting = [...this.pending.values()];
    const due = waiting.filter((t) => isSchedulable(t, nowMs));
    this.armBackoffWake(nextRestartAt(waiting, nowMs));
    const gated = this.gate(due);
    this.awaited = gated.awaited;
    if (due.length === 0) return;
    this.counters.passes++;
    const pending = due;
    const nodes = this.nodes.values();
    const result = placeTasksOn(gated.free, this.usage.infos(nodes));
    result.unplaceable.push(...gated.waiting);
    const plan = planWrites(
      result,
      new Map(pending.map((t) => [t.id, t])),
      new Map(nodes.map((n) => [n.id, n])),
      new Date().toISOString(),
    );
    if (plan.ops.length === 0) return;
    // Booked before the write: tasks placed meanwhile by placeNew must find these nodes taken.
    for (const [key, task] of plan.written) {
      this.written.set(key, task);
      this.refresh(key);
    }
    const unbook = (key: string) => {
      if (this.written.get(key) !== plan.written.get(key)) return;
      this.written.delete(key);
      this.refresh(key);
    };
    let conflicts: string[];
    try {
      ({ conflicts } = await this.store.batch(plan.ops));
    } catch (err) {
      for (const key of plan.written.keys()) unbook(key);
      throw err;
    }
    const refused = new Set(conflicts);
    let placed = 0;
    for (const [key, task] of plan.written) {
      if (refused.has(key)) {
        unbook(key);
        continue;
      }
      if (task.status.state === 'assigned') {
        placed++;
        schedulingLatencySeconds.observe(Math.max(0, Date.now() - Date.parse(task.createdAt)) / 1000);
      }
      const event = placementEvent(task);
      if (event) this.events?.record(event);
    }
    this.counters.placed += placed;
    this.counters.conflicts += conflicts.length;
    this.log.info(
      { pending: pending.length, placed, unplaceable: result.unplaceable.length, writes: plan.ops.length, conflicts: conflicts.length },
      'scheduling pass',
    );
  }

  /** A pass when the earliest restart backoff ends (the earliest asked for wins; a later pass asks again). */
  private armBackoffWake(at: number | undefined): void {
    if (this.stopped || at === undefined) return;
    this.queue.addAfter(PASS, Math.max(0, at - Date.now()) + WAKE_SLACK_MS);
  }
}
