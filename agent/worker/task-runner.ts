// One task runner per task: drives its instance through
//   accepted -> preparing (pull) -> starting -> running -> complete | failed | shutdown
// and reports every state change. It never restarts an instance that exited: the control plane
// replaces the task (a restart is a new task in the same slot). Decisions live in lifecycle.ts.
// While the instance runs, a prober (agent/health/) checks its health if the spec asks for it;
// an unhealthy verdict makes the runner stop the instance and report the task failed.
import type { Logger } from '../../common/log.js';
import { TaskHealth, isTerminal, type DesiredState, type Task, type TaskState, type TaskStatus } from '../../common/types.js';
import {
  ImageNotPresentError,
  ImagePullError,
  InvalidSpecError,
  RegistryAuthError,
  RejectedSpecError,
  pullPolicyOf,
  stopGraceOf,
  type Driver,
  type ExitResult,
  type Instance,
  type RegistryAuth,
} from '../driver/driver.js';
import { compileHealthCheck } from '../health/config.js';
import { Prober, type Clock, type LastProbe } from '../health/prober.js';
import { probeFor, type Probe } from '../health/probes.js';
import { StatusReason, advanceStatus, exitOutcome, mayStartFresh, type StatusDetails } from './lifecycle.js';

export interface TaskRunnerOptions {
  task: Task;
  driver: Driver;
  logger: Logger;
  /** Called on every state change of this task. */
  onStatus: (status: TaskStatus) => void;
  /** An instance of this task found on the node at agent start, to take over instead of creating one. */
  adopted?: Instance;
  /** Delay before retrying a failed wait on the runtime (ms). */
  retryMs?: number;
  /** The files a task reads (its secrets): written before the instance is created, removed once it has ended. */
  files?: TaskFiles;
  /** Health probing knobs, for tests: a fake clock, how often unchanged health is re-reported. */
  health?: { clock?: Clock; minReportMs?: number };
  /** Told the result of every health probe (the agent's metrics). */
  onProbe?: (ok: boolean) => void;
}

/** What a task needs on the node beside its instance (agent/workloads/secret-files.ts). */
export interface TaskFiles {
  /** Whether the task needs prepare(): it has files, or its image comes from a registry that may want credentials. */
  needs(task: Task): boolean;
  /**
   * Writes the task's files and returns the credentials of its image's registry, if stored;
   * throws when they cannot be had (the task fails, saying why).
   */
  prepare(task: Task): Promise<RegistryAuth | undefined>;
  /** Removes them; never throws. */
  release(taskId: string): Promise<void>;
  /** At agent start: removes the files of every task but `keep` (those with an instance on the node). */
  sweep?(keep: readonly string[]): Promise<void>;
}

export class TaskRunner {
  readonly taskId: string;
  private task: Task;
  private current: TaskStatus;
  private readonly driver: Driver;
  private readonly log: Logger;
  private readonly onStatus: (status: TaskStatus) => void;
  private readonly adopted: Instance | undefined;
  private readonly retryMs: number;
  private readonly healthOpts: TaskRunnerOptions['health'];
  private readonly onProbe: TaskRunnerOptions['onProbe'];
  private prober: Prober | undefined;
  /** Set when a health verdict made this runner stop the instance. */
  private unhealthy: { message: string; lastProbe: LastProbe } | undefined;
  private instanceId: string | undefined;
  /** Set while the instance runs and a stop must go through driver.stop. */
  private waiting = false;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private detached = false;
  private readonly detach$ = new AbortController();
  private done: Promise<void> | undefined;

  constructor(opts: TaskRunnerOptions) {
    this.task = opts.task;
    this.taskId = opts.task.id;
    this.current = { ...opts.task.status };
    this.driver = opts.driver;
    this.log = opts.logger.child({ task: opts.task.name, taskId: opts.task.id });
    this.onStatus = opts.onStatus;
    this.adopted = opts.adopted;
    this.instanceId = opts.adopted?.id;
    this.retryMs = opts.retryMs ?? 1000;
    this.healthOpts = opts.health;
    this.onProbe = opts.onProbe;
    this.files = opts.files;
  }

  private readonly files: TaskFiles | undefined;

  /** The latest status (as reported, or as received if nothing was reported yet). */
  get status(): TaskStatus {
    return this.current;
  }

  /** Starts supervising; the promise resolves when the task has ended or the runner was detached. */
  run(): Promise<void> {
    this.done ??= this.supervise().catch((err: unknown) => {
      this.log.error({ err }, 'task runner failed');
      this.report('failed', { reason: StatusReason.StartFailed, message: errorMessage(err) });
    });
    return this.done;
  }

  /** A newer copy of the task: only a change of desired state matters (a new spec is a new task). */
  update(task: Task): void {
    this.task = task;
    if (task.desiredState !== 'running') void this.shutdown();
  }

  get desiredState(): DesiredState {
    return this.task.desiredState;
  }

  /**
   * Stops the instance (SIGTERM, then SIGKILL after the spec's grace period) and resolves once the
   * runner has finished. Idempotent.
   */
  shutdown(): Promise<void> {
    this.stopRequested = true;
    // A stopping instance answers no probes: that must not count against it.
    this.stopProbing();
    this.stopping ??= (async () => {
      if (this.waiting && this.instanceId) await this.stopInstance(this.instanceId);
      await this.run();
    })();
    return this.stopping;
  }

  /** Shuts the task down, then removes its instance. */
  async remove(): Promise<void> {
    await this.shutdown();
    if (!this.instanceId) return;
    try {
      await this.driver.remove(this.instanceId);
      this.log.info({ instance: this.instanceId }, 'instance removed');
    } catch (err) {
      this.log.error({ err, instance: this.instanceId }, 'removing instance failed');
    }
  }

  /** Stops supervising and reporting; the instance keeps running for a later agent to adopt. */
  async detach(): Promise<void> {
    this.detached = true;
    this.detach$.abort();
    await this.done;
  }

  private async supervise(): Promise<void> {
    if (isTerminal(this.current.state)) {
      // Already ended as far as the control plane knows: an instance still running is stray.
      if (this.adopted?.running) await this.stopInstance(this.adopted.id);
      return;
    }
    if (this.adopted?.running) {
      this.report('running', {
        reason: StatusReason.Adopted,
        containerId: this.adopted.id,
        hostPorts: this.adopted.hostPorts,
        ...(this.adopted.address ? { address: this.adopted.address } : {}),
        ...this.initialHealth(),
      });
      if (this.task.desiredState !== 'running') this.stopRequested = true;
      // Its start period counts from the adoption: how long it ran before is not known here.
      this.startProbing(this.adopted.id);
      await this.waitForExit(this.adopted.id);
      return;
    }
    if (this.adopted?.started) {
      // It ended while no agent was watching: report how.
      await this.waitForExit(this.adopted.id);
      return;
    }
    if (!this.adopted && !mayStartFresh(this.current.state)) {
      this.report('failed', {
        reason: StatusReason.ContainerMissing,
        message: `task was ${this.current.state} on this node but its instance is gone`,
      });
      return;
    }
    if (this.stopRequested || this.task.desiredState !== 'running') {
      this.report('shutdown', { reason: StatusReason.NotStarted, message: 'desired state is no longer running' });
      return;
    }
    await this.startFresh();
  }

  private async startFresh(): Promise<void> {
    const spec = this.task.spec;
    this.report('accepted', {});
    // Files and credentials first: the pull may need the credentials of the image's registry.
    let auth: RegistryAuth | undefined;
    if (this.files?.needs(this.task)) {
      try {
        auth = await this.files.prepare(this.task);
      } catch (err) {
        this.report('failed', { reason: StatusReason.SecretsUnavailable, message: errorMessage(err) });
        return;
      }
    }
    this.report('preparing', { message: `ensuring image ${spec.image}` });
    try {
      await this.driver.ensureImage(spec.image, pullPolicyOf(spec), auth);
    } catch (err) {
      if (err instanceof RegistryAuthError) {
        this.report('rejected', { reason: StatusReason.ImagePullFailed, message: errorMessage(err) });
        return;
      }
      const reason =
        err instanceof ImageNotPresentError
          ? StatusReason.ImageNotPresent
          : err instanceof ImagePullError
            ? StatusReason.ImagePullFailed
            : StatusReason.StartFailed;
      this.report('failed', { reason, message: errorMessage(err) });
      return;
    }
    if (this.detached) return;
    if (this.stopRequested) {
      this.report('shutdown', { reason: StatusReason.NotStarted, message: 'stopped before the instance was created' });
      return;
    }
    this.report('starting', {});
    try {
      this.instanceId = await this.driver.create(this.task);
      await this.driver.start(this.instanceId);
    } catch (err) {
      const reason = err instanceof InvalidSpecError ? StatusReason.InvalidSpec : StatusReason.StartFailed;
      this.report(err instanceof RejectedSpecError ? 'rejected' : 'failed', {
        reason,
        message: errorMessage(err),
        ...(this.instanceId ? { containerId: this.instanceId } : {}),
      });
      return;
    }
    const id = this.instanceId;
    if (this.detached) return;
    // The host ports the runtime chose are all the inspection is for: none published, none asked.
    // And the address on the cluster network, where the node has one.
    const inspect = spec.ports?.length || this.driver.addressesInstances?.();
    const inst = inspect ? await this.driver.inspect(id).catch(() => undefined) : undefined;
    // If a stop came meanwhile, waitForExit delivers it; the task never counts as running.
    if (!this.stopRequested) {
      this.report('running', { containerId: id, hostPorts: inst?.hostPorts ?? [], ...(inst?.address ? { address: inst.address } : {}), ...this.initialHealth() });
      this.startProbing(id);
    }
    await this.waitForExit(id);
  }

  /** Waits for the instance to end and reports the outcome; retries if the runtime hiccups. */
  private async waitForExit(id: string): Promise<void> {
    this.waiting = true;
    // A stop asked for before `waiting` was set has not reached the instance yet; from here on
    // shutdown() delivers it itself.
    if (this.stopRequested) void this.stopInstance(id);
    let exit: ExitResult | undefined;
    try {
      while (!exit) {
        try {
          exit = await this.driver.wait(id, this.detach$.signal);
        } catch (err) {
          if (this.detached) return;
          this.log.warn({ err }, 'waiting for the instance failed; retrying');
          await new Promise((r) => setTimeout(r, this.retryMs));
          if (this.detached) return;
        }
      }
    } finally {
      this.stopProbing();
    }
    this.waiting = false;
    if (this.detached) return;
    const { state, ...details } = exitOutcome(exit, this.stopRequested, this.unhealthy?.message);
    const health = this.unhealthy ? { health: TaskHealth.Unhealthy, lastProbe: this.unhealthy.lastProbe } : {};
    this.report(state, { containerId: id, ...details, ...health });
  }

  /** `health: starting` for a task with a health check, until the first verdict. */
  private initialHealth(): { health?: TaskHealth } {
    return compileHealthCheck(this.task.spec.healthCheck) ? { health: TaskHealth.Starting } : {};
  }

  private counted(probe: Probe): Probe {
    const onProbe = this.onProbe;
    if (!onProbe) return probe;
    return async () => {
      const result = await probe();
      onProbe(result.ok);
      return result;
    };
  }

  private startProbing(id: string): void {
    const check = compileHealthCheck(this.task.spec.healthCheck);
    if (!check || this.stopRequested || this.detached || this.prober) return;
    this.prober = new Prober({
      check,
      probe: this.counted(probeFor(check, this.driver, id)),
      logger: this.log,
      clock: this.healthOpts?.clock,
      minReportMs: this.healthOpts?.minReportMs,
      onReport: (health, lastProbe) => {
        if (this.stopRequested || this.unhealthy) return;
        this.report('running', { health, lastProbe });
      },
      onUnhealthy: (result, failures) => {
        if (this.stopRequested) return;
        const lastProbe = { time: new Date().toISOString(), ok: result.ok, message: result.message };
        this.unhealthy = { message: `health check failed ${failures} times: ${result.message}`, lastProbe };
        this.log.warn({ probe: result.message, failures }, 'task unhealthy: stopping its instance');
        void this.stopInstance(id);
      },
    });
    this.prober.start();
  }

  /** Stops the prober without waiting: a probe still in flight is ignored when it ends. */
  private stopProbing(): void {
    if (this.prober) void this.prober.stop();
  }

  private async stopInstance(id: string): Promise<void> {
    const grace = stopGraceOf(this.task.spec);
    this.log.info({ instance: id, graceSeconds: grace }, 'stopping instance');
    try {
      await this.driver.stop(id, grace);
    } catch (err) {
      this.log.error({ err, instance: id }, 'stopping instance failed');
    }
  }

  private report(state: TaskState, details: StatusDetails): void {
    if (this.detached) return;
    const next = advanceStatus(this.current, state, details, new Date());
    if (!next) return;
    this.current = next;
    // Ended: nothing of the task's files stays on the node (its instance reads them no more).
    if (isTerminal(state) && this.files) void this.files.release(this.taskId);
    this.log.info({ state, reason: next.reason, exitCode: next.exitCode }, `task ${state}`);
    try {
      this.onStatus(next);
    } catch (err) {
      this.log.error({ err }, 'status listener threw');
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
