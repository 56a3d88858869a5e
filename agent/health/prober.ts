// Health checks on the agent: one prober per running task that has a `healthCheck`. It owns the
// probing loop (probe, judge, report, wait an interval) and tells its task runner about health
// changes and about the moment the task becomes unhealthy. It must not stop instances or report
// task states itself: the task runner does both (task-runner.ts). Decisions live in verdict.ts,
// the probes in probes.ts.
import type { Logger } from '../../common/log.js';
import type { TaskHealth, TaskStatus } from '../../common/types.js';
import type { HealthCheckConfig } from './config.js';
import type { Probe, ProbeResult } from './probes.js';
import { INITIAL_HEALTH, judge, type HealthState } from './verdict.js';

export type LastProbe = NonNullable<TaskStatus['lastProbe']>;

/** Probe results that change no health are reported at most this often. */
export const DEFAULT_MIN_REPORT_MS = 5000;

/** Time as the prober sees it; tests pass a fake one. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

export interface ProberOptions {
  check: HealthCheckConfig;
  probe: Probe;
  logger: Logger;
  /** A health change, or a probe result worth showing (rate-limited). */
  onReport: (health: TaskHealth, lastProbe: LastProbe) => void;
  /** The task became unhealthy after `failures` counted failures in a row; probing has stopped. */
  onUnhealthy: (result: ProbeResult, failures: number) => void;
  clock?: Clock;
  minReportMs?: number;
}

export class Prober {
  private readonly opts: ProberOptions;
  private readonly clock: Clock;
  private readonly stop$ = new AbortController();
  private state: HealthState = INITIAL_HEALTH;
  private loop: Promise<void> | undefined;

  constructor(opts: ProberOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
  }

  get health(): TaskHealth {
    return this.state.health;
  }

  /** Starts probing now; the start period counts from this call. Idempotent. */
  start(): void {
    this.loop ??= this.run(this.clock.now()).catch((err: unknown) => {
      this.opts.logger.error({ err }, 'health prober failed');
    });
  }

  /** Stops probing; resolves once a probe in flight has finished. Idempotent. */
  async stop(): Promise<void> {
    this.stop$.abort();
    await this.loop;
  }

  private async run(startedAt: number): Promise<void> {
    const { check, probe } = this.opts;
    const signal = this.stop$.signal;
    while (!signal.aborted) {
      const began = this.clock.now();
      const result = await probe();
      if (signal.aborted) return;
      const now = this.clock.now();
      const verdict = judge(this.state, result, {
        failureThreshold: check.failureThreshold,
        inStartPeriod: began - startedAt < check.startPeriodMs,
        now,
        minReportMs: this.opts.minReportMs ?? DEFAULT_MIN_REPORT_MS,
      });
      if (verdict.state.health !== this.state.health) {
        this.opts.logger.info({ health: verdict.state.health, probe: result.message }, `task ${verdict.state.health}`);
      }
      this.state = verdict.state;
      if (verdict.report) {
        this.opts.onReport(this.state.health, { time: new Date(now).toISOString(), ok: result.ok, message: result.message });
      }
      if (verdict.unhealthy) {
        this.opts.onUnhealthy(result, this.state.failures);
        return;
      }
      // The interval runs from one probe's start to the next, as Docker's does.
      await this.clock.sleep(Math.max(0, check.intervalMs - (now - began)), signal);
    }
  }
}
