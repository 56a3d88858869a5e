// Orchestrator: keeps each service's live tasks equal to what its spec asks for.
//
// Owns: creating tasks, telling tasks to stop (desiredState), deleting finished tasks.
// Must not: choose nodes (the scheduler does), or write observed task state (agents report it
// through the dispatcher). Decisions come from the pure planners (planners.ts picks one);
// this file only feeds them the informers' caches and writes their plans in batches.
//
// Rolling updates too (update.ts): the planners decide which outdated slots a rollout replaces
// now and how its state (`updates/<service>`) moves on; this loop writes the tasks and the state
// in one transaction, writes an automatic rollback (rollout/actions.ts), and plans a service
// again when a monitor period, step delay or progress deadline ends.
//
// Self-healing lives in the planners too: tasks of a node the dispatcher marked `down` are
// orphaned and replaced, a draining node is emptied a few slots at a time, and crash-looping
// slots wait out a growing backoff (the scheduler honours the replacement's `restartAt`).
//
// The loop is the controllers' work queue (controller/work-queue.ts), keyed by service name:
// events add services, a pass plans and writes all that are ready, a failed write is retried
// with backoff, and a rollout's wake-up time is a delayed add.
import { taskRestartsTotal } from '../metrics/instruments.js';
import type { Logger } from 'pino';
import { ConflictError } from '../../common/errors.js';
import type { Revision, UpdateStatus } from '../../common/rollout.js';
import { isTerminal, type Node, type Service, type Task } from '../../common/types.js';
import type { Informer, InformerEvent } from '../store/informer.js';
import { informerFor, taskIndexes, type SharedInformers, type TaskIndexes } from '../store/shared-informers.js';
import { keys, rolloutKeys } from '../store/keys.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import type { BackoffOptions } from './backoff.js';
import { EventReason, type Plan } from './plan.js';
import { planService } from './planners.js';
import { mayChangePlan } from './may-change-plan.js';
import type { EventRecorder } from '../events/recorder.js';
import type { EventInput } from '../../common/events.js';
import { rollTo } from '../rollout/actions.js';
import { ChangeCause } from '../rollout/revisions.js';
import type { Controller } from '../controller/controller.js';
import { WorkQueue } from '../controller/work-queue.js';

/** New tasks planned and placed between two yields of the event loop, about (a service is never split). */
const CREATES_PER_SLICE = 2000;
/** How soon a service whose last write the informers have not shown yet is looked at again. */
const AWAIT_OWN_WRITE_MS = 100;
/** Added to a rollout's wake-up time, so the pass finds the period over. */
const WAKE_SLACK_MS = 5;

export interface OrchestratorOptions {
  store: Store;
  logger: Logger;
  /** Where to record what the orchestrator decides. */
  events?: EventRecorder;
  /** Gather events this long before reconciling (a burst becomes one pass). */
  debounceMs?: number;
  /** Reconcile everything this often, as a safety net. */
  resyncMs?: number;
  /** Restart backoff of crash-looping slots (cap and reset window). */
  backoff?: BackoffOptions;
  /** The process's informers to subscribe to (the server's); without them, the orchestrator watches on its own. */
  informers?: SharedInformers;
  /**
   * Places the tasks about to be created (the server's scheduler), so a task that fits is
   * written once, already assigned. Without it, tasks are created pending for the scheduler.
   */
  placer?: TaskPlacer;
}

/** The scheduler as the orchestrator sees it (see Scheduler.placeNew). */
export interface TaskPlacer {
  placeNew(tasks: readonly Task[], now: string): { tasks: Task[]; events: EventInput[]; booked: string[] };
  /** The writes of these task keys failed: give their nodes back. */
  releaseNew(taskKeys: Iterable<string>): void;
}

export class Orchestrator implements Controller {
  private readonly services: Informer<Service>;
  private readonly tasks: Informer<Task>;
  private readonly nodes: Informer<Node>;
  private readonly updates: Informer<UpdateStatus>;
  private readonly release: (() => Promise<void>)[];
  private readonly log: Logger;
  /** The tasks cache per service and per node, kept by the informer (a pass never regroups all tasks). */
  private readonly index: TaskIndexes;
  /** Services to plan again. */
  private readonly queue: WorkQueue<string>;
  /** Per service: the store revision of our last write, per informer; wait to see it before planning again. */
  private readonly awaiting = new Map<string, { tasks?: number; updates?: number; services?: number }>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: OrchestratorOptions) {
    this.log = opts.logger.child({ component: 'orchestrator' });
    // A pass plans what is marked within debounceMs of its first mark (a fixed delay, not a
    // quiet time), all in one batch.
    const debounceMs = opts.debounceMs ?? 10;
    this.queue = new WorkQueue<string>({ logger: this.log, quietMs: debounceMs, maxDelayMs: debounceMs, process: (names) => this.reconcile(names) });
    const base = { store: opts.store, logger: this.log };
    const shared = opts.informers;
    const services = informerFor<Service>(shared?.services, { ...base, prefix: keys.services, onEvent: (e) => this.onService(e) });
    const tasks = informerFor<Task>(shared?.tasks, { ...base, prefix: keys.tasks, onEvent: (e) => this.onTask(e) });
    const nodes = informerFor<Node>(shared?.nodes, { ...base, prefix: keys.nodes, onEvent: (e) => this.onNode(e) });
    this.services = services.informer;
    this.tasks = tasks.informer;
    this.index = taskIndexes(this.tasks);
    this.nodes = nodes.informer;
    const updates = informerFor<UpdateStatus>(shared?.updates, { ...base, prefix: rolloutKeys.updates, onEvent: (e) => this.mark(e.key.slice(rolloutKeys.updates.length)) });
    this.updates = updates.informer;
    this.release = [services.release, tasks.release, nodes.release, updates.release];
  }

  async start(): Promise<void> {
    this.services.start();
    this.tasks.start();
    this.nodes.start();
    this.updates.start();
    await Promise.all([this.services.synced, this.tasks.synced, this.nodes.synced, this.updates.synced]);
    this.started = true;
    this.markAll();
    this.queue.start();
    this.resyncTimer = setInterval(() => this.markAll(), this.opts.resyncMs ?? 30_000);
    this.log.info('orchestrator started');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.queue.stop();
    await Promise.all(this.release.map((r) => r()));
  }

  private onService(e: InformerEvent<Service>): void {
    this.mark(e.key.slice(keys.services.length));
  }

  /**
   * A task change plans its service again only if it can change the plan: an agent's steps
   * between assigned and running (most of the events at scale) cannot.
   */
  private onTask(e: InformerEvent<Task>): void {
    // Until start(), which plans every service, there is nothing to mark.
    if (!this.started) return;
    if (e.type === 'delete') {
      this.mark(e.previous.serviceName);
      return;
    }
    if (!e.previous || mayChangePlan(e.previous, e.value)) {
      this.mark(e.value.serviceName);
      if (e.previous && e.previous.serviceName !== e.value.serviceName) this.mark(e.previous.serviceName);
    }
  }

  /**
   * A node going down, draining or pausing changes the plans of the services with tasks on it;
   * any node change may change where global services run.
   */
  private onNode(e: InformerEvent<Node>): void {
    const next = e.type === 'put' ? e.value : undefined;
    const prev = e.previous;
    if (!next || prev?.status.state !== next.status.state || prev.availability !== next.availability) {
      const nodeId = next?.id ?? prev?.id;
      if (nodeId) for (const t of this.index.byNode.get(nodeId)?.values() ?? []) this.mark(t.serviceName);
    }
    if (next && next.availability === 'drain' && prev?.availability !== 'drain' && this.started) {
      this.opts.events?.record({
        type: 'Normal',
        reason: EventReason.NodeDrain,
        object: { kind: 'node', name: next.name, id: next.id },
        message: `node ${next.name} is draining: its tasks move to other nodes`,
      });
    }
    this.markGlobalServices();
  }

  private markGlobalServices(): void {
    for (const s of this.services.values()) if (s.spec.mode === 'global') this.mark(s.metadata.name);
  }

  private markAll(): void {
    for (const s of this.services.values()) this.mark(s.metadata.name);
    for (const name of [...this.index.byService.keys()]) this.mark(name);
  }

  /**
   * One pass at a time (the queue's): marks made during a pass wait for it to end. (Overlapping
   * passes could plan a service from a cache that missed the other pass's writes, and create twins.)
   */
  private mark(service: string): void {
    this.queue.add(service);
  }

  private async reconcile(names: string[]): Promise<void> {
    const nodes = this.nodes.values();
    // All a replicated plan reads of nodes: which are down or draining.
    const unwell = nodes.filter((n) => n.status.state === 'down' || n.availability === 'drain');
    const now = new Date().toISOString();
    const ops: WriteOp[] = [];
    const touched: string[] = [];
    /** Per service, the ids of the tasks created to replace one that ended (for the restarts metric). */
    const restarted = new Map<string, string[]>();
    const events: EventInput[] = [];
    // Services whose rollout state changes: their task writes and the state go in one transaction.
    const rollouts: { name: string; ops: WriteOp[]; events: EventInput[]; restarts: string[] }[] = [];
    const rollbacks: { svc: Service; update: UpdateStatus; plan: Plan }[] = [];
    /** Per service, the keys of new tasks the placer booked nodes for (given back if not written). */
    const booked = new Map<string, string[]>();
    const planned: { name: string; update: UpdateStatus | undefined; plan: Plan }[] = [];
    let unplaced = 0;
    let placedUpTo = 0;
    for (const name of names) {
      if (unplaced >= CREATES_PER_SLICE) {
        // Thousands of new tasks: place what is planned so far, then let the API and the other
        // components have the event loop before planning on (one long stretch of planning and
        // placing 25,000 tasks held every API call for a second).
        this.placeCreated(planned.slice(placedUpTo), now, booked);
        placedUpTo = planned.length;
        unplaced = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!this.caughtUp(name)) {
        // Our last write is not in the cache yet: planning now could create twins.
        this.queue.addAfter(name, AWAIT_OWN_WRITE_MS);
        continue;
      }
      this.awaiting.delete(name);
      const svc = this.services.cache.get(keys.service(name));
      const update = this.updates.cache.get(rolloutKeys.update(name));
      const tasks = [...(this.index.byService.get(name)?.values() ?? [])];
      const backoff = this.opts.backoff;
      const plan = planService({ service: svc, tasks, now, nodes: svc?.spec.mode === 'global' ? nodes : unwell, backoff, update });
      if (plan.wakeAt !== undefined) this.queue.addAfter(name, Math.max(0, plan.wakeAt - Date.now()) + WAKE_SLACK_MS);
      if (svc && update && plan.rollback) {
        rollbacks.push({ svc, update, plan });
        continue;
      }
      planned.push({ name, update, plan });
      unplaced += plan.create.length;
    }
    this.placeCreated(planned.slice(placedUpTo), now, booked);
    for (const { name, update, plan } of planned) {
      const planOps = toOps(plan);
      if (plan.update) {
        const { version: _v, ...value } = plan.update;
        const updateOp: WriteOp = update?.version !== undefined
          ? { type: 'put', key: rolloutKeys.update(name), value, version: update.version }
          : { type: 'create', key: rolloutKeys.update(name), value };
        if (planOps.length < MAX_TXN_OPS) {
          rollouts.push({ name, ops: [...planOps, updateOp], events: plan.events, restarts: plan.restarts ?? [] });
          continue;
        }
        rollouts.push({ name, ops: [updateOp], events: [], restarts: [] });
      }
      if (planOps.length) {
        ops.push(...planOps);
        touched.push(name);
        if (plan.restarts?.length) restarted.set(name, plan.restarts);
        events.push(...plan.events);
        this.log.info(
          { service: name, create: plan.create.length, shutdown: plan.shutdown.length, remove: plan.remove.length, orphan: plan.orphan.length },
          'reconciling',
        );
      }
    }
    for (const r of rollouts) {
      // A slot restarted while the service's rollout is open is written with the rollout.
      if (!(await this.writeRollout(r.name, r.ops, r.events))) this.opts.placer?.releaseNew(booked.get(r.name) ?? []);
      else if (r.restarts.length) taskRestartsTotal.inc({ service: r.name }, r.restarts.length);
    }
    for (const r of rollbacks) await this.rollback(r.svc, r.update, r.plan);
    if (!ops.length) return;
    try {
      const { conflicts, revision } = await this.opts.store.batch(ops);
      for (const name of touched) this.awaiting.set(name, { tasks: revision });
      for (const key of conflicts) this.queue.retry(key.split('/')[1] ?? '');
      if (conflicts.length) this.opts.placer?.releaseNew(conflicts);
      // A conflicting write is planned again; its event would be recorded twice.
      const conflicted = new Set(conflicts.map((k) => k.split('/')[2]));
      for (const e of events) if (!e.object.id || !conflicted.has(e.object.id)) this.opts.events?.record(e);
      for (const [service, ids] of restarted) for (const id of ids) if (!conflicted.has(id)) taskRestartsTotal.inc({ service });
    } catch (err) {
      for (const name of touched) this.opts.placer?.releaseNew(booked.get(name) ?? []);
      this.queue.retryAll(touched, err);
    }
  }

  /**
   * The new tasks of every plan of this pass, placed at once by the placer (one copy of the
   * nodes' usage for the whole pass); each plan gets its tasks back, assigned where a node fits,
   * with their TaskScheduled events. The booked keys are kept per service in `booked`.
   */
  private placeCreated(planned: readonly { name: string; plan: Plan }[], now: string, booked: Map<string, string[]>): void {
    const placer = this.opts.placer;
    const creating = planned.filter((p) => p.plan.create.length > 0);
    if (!placer || creating.length === 0) return;
    const placed = placer.placeNew(creating.flatMap((p) => p.plan.create), now);
    const byId = new Map(placed.tasks.map((t) => [t.id, t]));
    const eventOf = new Map(placed.events.map((e) => [e.object.id, e]));
    const bookedKeys = new Set(placed.booked);
    for (const { name, plan } of creating) {
      plan.create = plan.create.map((t) => byId.get(t.id) ?? t);
      for (const t of plan.create) {
        const event = eventOf.get(t.id);
        if (event) plan.events.push(event);
        const key = keys.task(t.serviceName, t.id);
        if (bookedKeys.has(key)) {
          const list = booked.get(name);
          if (list) list.push(key);
          else booked.set(name, [key]);
        }
      }
    }
  }

  /** Whether every informer our last write for `name` went to has seen it. */
  private caughtUp(name: string): boolean {
    const w = this.awaiting.get(name);
    if (!w) return true;
    return (
      (w.tasks === undefined || this.tasks.lastRevision >= w.tasks) &&
      (w.updates === undefined || this.updates.lastRevision >= w.updates) &&
      (w.services === undefined || this.services.lastRevision >= w.services)
    );
  }

  /** One service's task writes and its rollout's next state, in one transaction; whether it was written. */
  private async writeRollout(name: string, ops: WriteOp[], events: EventInput[]): Promise<boolean> {
    try {
      const revision = await this.opts.store.txn(ops);
      const hasTasks = ops.some((o) => o.key.startsWith(keys.tasks));
      this.awaiting.set(name, { updates: revision, ...(hasTasks ? { tasks: revision } : {}) });
      for (const e of events) this.opts.events?.record(e);
      return true;
    } catch (err) {
      this.queue.retry(name, err instanceof ConflictError ? undefined : err);
      return false;
    }
  }

  /**
   * The rollout failed with `failureAction: rollback`: the service's spec becomes the previous
   * revision's again (as a new revision), and a rollout in state `rolling-back` replaces the
   * new tasks with the same care.
   */
  private async rollback(svc: Service, update: UpdateStatus, plan: Plan): Promise<void> {
    const name = svc.metadata.name;
    const { toRevision, reason } = plan.rollback!;
    try {
      const target = await this.opts.store.get<Revision>(rolloutKeys.revision(name, toRevision));
      if (!target) {
        const { version, ...value } = update;
        const message = `paused: ${reason}; revision ${toRevision} to roll back to is no longer kept`;
        await this.opts.store.put(rolloutKeys.update(name), { ...value, state: 'paused', updatedAt: new Date().toISOString(), message }, version);
        this.opts.events?.record({ type: 'Warning', reason: EventReason.UpdatePaused, object: { kind: 'service', name }, service: name, message });
        return;
      }
      const res = await rollTo(this.opts.store, svc, target, ChangeCause.rollback(reason), { rollingBack: true, updateVersion: update.version });
      this.awaiting.set(name, { services: res.revision, updates: res.revision });
      for (const e of plan.events) this.opts.events?.record(e);
      this.opts.events?.record({
        type: 'Warning',
        reason: EventReason.RollbackStarted,
        object: { kind: 'service', name },
        service: name,
        message: `update to revision ${update.revision} failed: ${reason}; rolling back to revision ${toRevision} (as revision ${res.update.revision})`,
      });
      this.log.warn({ service: name, from: update.revision, to: toRevision, reason }, 'rolling back');
    } catch (err) {
      this.queue.retry(name, err instanceof ConflictError ? undefined : err);
    }
  }
}

function toOps(plan: Plan): WriteOp[] {
  const ops: WriteOp[] = [];
  for (const t of plan.create) ops.push({ type: 'create', key: keys.task(t.serviceName, t.id), value: t });
  for (const { task, desiredState, reason } of plan.shutdown) {
    // A task that already ended keeps the agent's explanation (exit code, failed health check);
    // one still running is told why it is being stopped.
    const message = isTerminal(task.status.state) ? task.status.message : reason;
    const next: Task = { ...task, desiredState, status: { ...task.status, message } };
    ops.push({ type: 'put', key: keys.task(task.serviceName, task.id), value: next, version: task.version! });
  }
  for (const t of plan.remove) ops.push({ type: 'delete', key: keys.task(t.serviceName, t.id), version: t.version! });
  for (const { task, next } of plan.orphan) {
    const { version, ...value } = next;
    ops.push({ type: 'put', key: keys.task(task.serviceName, task.id), value, version: version! });
  }
  return ops;
}
