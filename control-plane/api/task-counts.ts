// What the API shows of tasks on services and nodes (a service's task, running, ready and
// up-to-date counts; a node's task count), computed on the main thread, where every task is
// already decoded for the controllers, and sent to the API's thread (thread.ts). The API's
// thread then serves services and nodes without watching and decoding every task itself: at
// 50,000 tasks that doubled the work of every task change.
//
// Owns: counting (one function, shared with the API's count of a service from etcd) and the
// message between the threads. Counts trail the store by up to FLUSH_MS plus the main thread's backlog; a service's
// counts name the service version they were counted against, and a reader with another
// version must not use them (see views.ts).
//
// The loop is the controllers' work queue (controller/work-queue.ts), keyed by `service/<name>`
// and `node/<id>`: task and service events add keys, a pass (a fixed FLUSH_MS after the first)
// counts them and sends what changed.
import type { MessagePort } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { jobProgress, jobSettings } from '../../common/jobs.js';
import { isTerminal, type JobState, type Service, type Task } from '../../common/types.js';
import { isLive, isOutdated, isReady } from '../../common/task-predicates.js';
import type { InformerEvent } from '../store/informer.js';
import { keys } from '../store/keys.js';
import { taskIndexes, type SharedInformers, type TaskIndexes } from '../store/shared-informers.js';
import type { Controller } from '../controller/controller.js';
import { WorkQueue } from '../controller/work-queue.js';

export interface ServiceCounts {
  /** The service version (`metadata.version`) `upToDate` was counted against. */
  version: number;
  /** Live tasks: desired running, not ended. */
  tasks: number;
  running: number;
  ready: number;
  /** Live tasks running the spec of `version`. */
  upToDate: number;
  /** Jobs: the current run's completions and state (common/jobs.ts). */
  completed?: number;
  job?: JobState;
}

/** The counts of `svc` over `tasks` (its tasks; others are ignored). */
export function countService(svc: Service, tasks: Iterable<Task>): ServiceCounts {
  const c: ServiceCounts = { version: svc.metadata.version ?? 0, tasks: 0, running: 0, ready: 0, upToDate: 0 };
  const job = svc.spec.mode === 'job';
  const run: Task[] = [];
  for (const t of tasks) {
    if (t.serviceName !== svc.metadata.name) continue;
    if (job && !outdatedAgainst(t, svc)) run.push(t);
    if (!isLive(t)) continue;
    c.tasks++;
    if (t.status.state === 'running') c.running++;
    if (isReady(t)) c.ready++;
    if (!outdatedAgainst(t, svc)) c.upToDate++;
  }
  if (job) {
    const progress = jobProgress(jobSettings(svc.spec), run);
    c.completed = progress.completed;
    c.job = progress.state;
  }
  return c;
}

/** Tasks on the node that have not ended. */
export function countNode(nodeId: string, tasks: Iterable<Task>): number {
  let n = 0;
  for (const t of tasks) if (t.nodeId === nodeId && !isTerminal(t.status.state)) n++;
  return n;
}

/**
 * Whether a task runs an older spec than its service's, remembered per task object and service
 * version: caches keep task objects until they change, and comparing specs deeply for every task
 * of every count cost more than the rest of it.
 */
const outdatedMemo = new WeakMap<Task, { version: number; outdated: boolean }>();

function outdatedAgainst(t: Task, svc: Service): boolean {
  const version = svc.metadata.version;
  const memo = outdatedMemo.get(t);
  if (memo && version !== undefined && memo.version === version) return memo.outdated;
  const outdated = isOutdated(t, svc.spec, svc.metadata.restartedAt);
  if (version !== undefined) outdatedMemo.set(t, { version, outdated });
  return outdated;
}

/** Main thread -> API thread: counts that changed (null: the service is gone). */
interface CountsMessage {
  services: [string, ServiceCounts | null][];
  nodes: [string, number][];
}

/** How long changes are gathered before the changed counts are sent. */
const FLUSH_MS = 50;

/** Queue keys: a service's counts or a node's. */
const SERVICE = 'service/';
const NODE = 'node/';

/** Main thread: keeps the counts from the shared informers and sends what changes to `port`. */
export class CountsPublisher implements Controller {
  private readonly index: TaskIndexes;
  private readonly sentServices = new Map<string, ServiceCounts>();
  private readonly sentNodes = new Map<string, number>();
  /** Service and node keys whose counts may have changed. */
  private readonly queue: WorkQueue<string>;
  private readonly offs: (() => void)[] = [];
  /** Whether the first message (every count) was sent. */
  private sentAll = false;

  constructor(
    private readonly informers: Pick<SharedInformers, 'tasks' | 'services'>,
    private readonly port: MessagePort,
    logger: Logger = pino({ enabled: false }),
  ) {
    this.index = taskIndexes(informers.tasks);
    const log = logger.child({ component: 'task-counts' });
    this.queue = new WorkQueue<string>({ logger: log, quietMs: FLUSH_MS, maxDelayMs: FLUSH_MS, process: (dirty) => this.flush(dirty) });
  }

  /** Subscribes, waits for both caches, then sends every count once. */
  async start(): Promise<void> {
    const { tasks, services } = this.informers;
    this.offs.push(
      tasks.subscribe((ev) => this.onTask(ev)),
      services.subscribe((ev) => this.queue.add(SERVICE + (ev.type === 'put' ? ev.value : ev.previous).metadata.name)),
    );
    tasks.start();
    services.start();
    await Promise.all([tasks.synced, services.synced]);
    for (const s of services.cache.values()) this.queue.add(SERVICE + s.metadata.name);
    for (const name of this.index.byService.keys()) this.queue.add(SERVICE + name);
    for (const id of this.index.byNode.keys()) this.queue.add(NODE + id);
    // The first message goes at once, even empty: it tells the reader it has everything.
    this.queue.start();
    this.queue.runNow();
    if (!this.sentAll) this.flush([]);
  }

  async stop(): Promise<void> {
    for (const off of this.offs) off();
    await this.queue.stop();
  }

  private onTask(ev: InformerEvent<Task>): void {
    const before = ev.previous;
    const after = ev.type === 'put' ? ev.value : undefined;
    for (const t of [before, after]) {
      if (!t) continue;
      this.queue.add(SERVICE + t.serviceName);
      if (t.nodeId) this.queue.add(NODE + t.nodeId);
    }
  }

  /** Sends the counts of `dirty` that changed (the first time, even none). */
  private flush(dirty: readonly string[]): void {
    const msg: CountsMessage = { services: [], nodes: [] };
    for (const key of dirty) {
      if (!key.startsWith(SERVICE)) continue;
      const name = key.slice(SERVICE.length);
      const svc = this.informers.services.cache.get(keys.service(name));
      const counts = svc ? countService(svc, this.index.byService.get(name)?.values() ?? []) : null;
      const sent = this.sentServices.get(name);
      if (counts === null) {
        if (!sent) continue;
        this.sentServices.delete(name);
      } else {
        if (sent && sameCounts(sent, counts)) continue;
        this.sentServices.set(name, counts);
      }
      msg.services.push([name, counts]);
    }
    for (const key of dirty) {
      if (!key.startsWith(NODE)) continue;
      const id = key.slice(NODE.length);
      const n = countNode(id, this.index.byNode.get(id)?.values() ?? []);
      if ((this.sentNodes.get(id) ?? 0) === n && this.sentNodes.has(id)) continue;
      this.sentNodes.set(id, n);
      msg.nodes.push([id, n]);
    }
    if (!this.sentAll || msg.services.length || msg.nodes.length) this.port.postMessage(msg);
    this.sentAll = true;
  }
}

function sameCounts(a: ServiceCounts, b: ServiceCounts): boolean {
  return a.version === b.version && a.tasks === b.tasks && a.running === b.running && a.ready === b.ready && a.upToDate === b.upToDate && a.completed === b.completed && a.job === b.job;
}

/** API thread: the counts as the main thread last sent them. */
export class RelayedCounts {
  private readonly services = new Map<string, ServiceCounts>();
  private readonly nodes = new Map<string, number>();
  private readonly listeners = new Set<(services: string[], nodes: string[]) => void>();
  private resolveReady!: () => void;
  /** Resolves with the first message (every count the main thread had). */
  readonly ready: Promise<void> = new Promise((r) => (this.resolveReady = r));

  constructor(port: MessagePort) {
    port.on('message', (m: CountsMessage) => this.receive(m));
  }

  /** The counts of service `name` if they were counted against `version`. */
  service(name: string, version: number | undefined): ServiceCounts | undefined {
    const c = this.services.get(name);
    return c && version !== undefined && c.version === version ? c : undefined;
  }

  node(id: string): number {
    return this.nodes.get(id) ?? 0;
  }

  /** Calls `listener` with the services and nodes whose counts changed; returns its removal. */
  onChange(listener: (services: string[], nodes: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private receive(m: CountsMessage): void {
    for (const [name, c] of m.services) {
      if (c) this.services.set(name, c);
      else this.services.delete(name);
    }
    for (const [id, n] of m.nodes) this.nodes.set(id, n);
    this.resolveReady();
    const services = m.services.map(([name]) => name);
    const nodes = m.nodes.map(([id]) => id);
    for (const l of this.listeners) l(services, nodes);
  }
}
