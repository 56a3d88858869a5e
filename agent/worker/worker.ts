// The worker: owns the set of tasks assigned to this node and one task runner per task. It
// reconciles assignments from the session against what runs locally (through the driver), adopts
// the instances an earlier agent process left running, and fans status reports out to listeners.
// It knows nothing of gRPC or the control plane (see types.ts) and never starts a replacement for
// an ended task: that is the orchestrator's decision.
import type { Logger } from '../../common/log.js';
import { isTerminal, type Task } from '../../common/types.js';
import type { Driver, Instance } from '../driver/driver.js';
import { DEFAULT_STOP_GRACE_SECONDS } from '../driver/driver.js';
import { planAdoption } from './lifecycle.js';
import { TaskRunner, type TaskFiles } from './task-runner.js';
import type { TaskStatusReport } from '../../common/task-status.js';
import type { TaskWorker } from './types.js';

export interface WorkerOptions {
  driver: Driver;
  /** This node's name: instances labelled with it are this worker's to adopt or remove. */
  nodeName: string;
  /** The agent's data dir (drivers keep their own state under it). */
  dataDir: string;
  logger: Logger;
  /** The files tasks read (secrets), written and removed around their instances. */
  files?: TaskFiles;
  /** Told the result of every health probe, with the task's service (the agent's metrics). */
  onProbe?: (service: string, ok: boolean) => void;
}

export class Worker implements TaskWorker {
  private readonly driver: Driver;
  private readonly log: Logger;
  readonly nodeName: string;
  readonly dataDir: string;
  private readonly runners = new Map<string, TaskRunner>();
  /** Instances found at start() and not yet claimed by an assignment, by task id. */
  private found: Instance[] = [];
  private readonly listeners: ((report: TaskStatusReport) => void)[] = [];
  /** Runs, removals and discards in flight, so stop() can wait for them. */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly opts: WorkerOptions) {
    this.driver = opts.driver;
    this.nodeName = opts.nodeName;
    this.dataDir = opts.dataDir;
    this.log = opts.logger.child({ component: 'worker', node: opts.nodeName });
  }

  async start(): Promise<void> {
    this.found = await this.driver.list();
    await this.opts.files?.sweep?.(this.found.map((i) => i.taskId));
    this.log.info(
      { instances: this.found.length, running: this.found.filter((i) => i.running).length },
      'found instances of this node to adopt',
    );
  }

  setAssignments(tasks: Task[]): void {
    if (this.stopped) return;
    const assigned = new Set(tasks.filter((t) => t.desiredState !== 'remove').map((t) => t.id));
    for (const id of [...this.runners.keys()]) if (!assigned.has(id)) this.remove(id);
    const { discard } = planAdoption(assigned, this.found);
    for (const inst of discard) this.discard(inst);
    this.found = this.found.filter((i) => !discard.includes(i));
    for (const t of tasks) this.upsert(t);
    // Everything found was claimed or discarded: later assignments start fresh.
    this.found = [];
  }

  upsert(task: Task): void {
    if (this.stopped) return;
    // Orphaned: the control plane gave up on this node's copy and replaced it elsewhere; its
    // view wins, so nothing of it stays here (stopped and removed, not kept as history).
    if (task.desiredState === 'remove' || task.status.state === 'orphaned') {
      this.remove(task.id);
      return;
    }
    const existing = this.runners.get(task.id);
    if (existing) {
      existing.update(task);
      return;
    }
    const { adopt, discard } = planAdoption(
      new Set([task.id]),
      this.found.filter((i) => i.taskId === task.id),
    );
    for (const inst of discard) this.discard(inst);
    this.found = this.found.filter((i) => i.taskId !== task.id);
    const adopted = adopt.get(task.id);
    if (adopted) this.log.info({ task: task.name, instance: adopted.id, running: adopted.running }, 'adopting instance');
    const runner = new TaskRunner({
      task,
      driver: this.driver,
      logger: this.log,
      adopted,
      ...(this.opts.files ? { files: this.opts.files } : {}),
      ...(this.opts.onProbe ? { onProbe: (ok: boolean) => this.opts.onProbe!(task.serviceName, ok) } : {}),
      onStatus: (status) => this.emit({ taskId: task.id, status }),
    });
    this.runners.set(task.id, runner);
    this.track(runner.run());
  }

  remove(taskId: string): void {
    const runner = this.runners.get(taskId);
    if (runner) {
      this.runners.delete(taskId);
      this.track(runner.remove());
    }
    const leftovers = this.found.filter((i) => i.taskId === taskId);
    this.found = this.found.filter((i) => i.taskId !== taskId);
    for (const inst of leftovers) this.discard(inst);
  }

  fence(): void {
    if (this.stopped) return;
    let fenced = 0;
    for (const runner of this.runners.values()) {
      if (isTerminal(runner.status.state)) continue;
      fenced++;
      this.track(runner.shutdown());
    }
    this.log.warn({ tasks: fenced }, 'fenced: no contact with the control plane; stopping tasks (containers kept)');
  }

  statuses(): TaskStatusReport[] {
    return [...this.runners.values()].map((r) => ({ taskId: r.taskId, status: r.status }));
  }

  onStatus(listener: (report: TaskStatusReport) => void): void {
    this.listeners.push(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.runners.values()].map((r) => r.detach()));
    // Removals already asked for are finished (each bounded by its grace period).
    await Promise.all([...this.inFlight]);
  }

  /** Stops and removes an instance no assignment claims. */
  private discard(inst: Instance): void {
    this.log.info({ instance: inst.id, task: inst.taskName, taskId: inst.taskId }, 'removing instance of an unassigned task');
    this.track(
      (async () => {
        try {
          if (inst.running) await this.driver.stop(inst.id, DEFAULT_STOP_GRACE_SECONDS);
          await this.driver.remove(inst.id);
          await this.opts.files?.release(inst.taskId);
        } catch (err) {
          this.log.error({ err, instance: inst.id }, 'removing unassigned instance failed');
        }
      })(),
    );
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.log.error({ err }, 'worker task failed'));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private emit(report: TaskStatusReport): void {
    for (const l of this.listeners) {
      try {
        l(report);
      } catch (err) {
        this.log.error({ err }, 'status listener threw');
      }
    }
  }
}
