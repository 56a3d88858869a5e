// Pure health decisions, no I/O and no clock: what one probe result does to a task's health, and
// whether the change is worth a status report. The prober (prober.ts) feeds it results and times.
import { TaskHealth } from '../../common/types.js';
import type { ProbeResult } from './probes.js';

export interface HealthState {
  health: TaskHealth;
  /** Consecutive failures that count (failures in the start period before any success do not). */
  failures: number;
  /** The last probe result sent in a status report, and when (ms). */
  reported?: { result: ProbeResult; at: number };
}

export const INITIAL_HEALTH: HealthState = { health: TaskHealth.Starting, failures: 0 };

export interface JudgeContext {
  failureThreshold: number;
  /** True when the probe began within startPeriod of the instance's start. */
  inStartPeriod: boolean;
  /** When the result came in (ms). */
  now: number;
  /** Probe results that change nothing of the health are reported at most this often (ms). */
  minReportMs: number;
}

export interface Verdict {
  state: HealthState;
  /** Send a status report with the new health and this result as lastProbe. */
  report: boolean;
  /** The task just became unhealthy: it must be stopped. */
  unhealthy: boolean;
}

export function judge(prev: HealthState, result: ProbeResult, ctx: JudgeContext): Verdict {
  let { health, failures } = prev;
  if (result.ok) {
    health = TaskHealth.Healthy;
    failures = 0;
  } else if (!(ctx.inStartPeriod && prev.health === TaskHealth.Starting)) {
    // Like Docker: once a probe has succeeded, the start period no longer excuses failures.
    failures += 1;
    if (failures >= ctx.failureThreshold) health = TaskHealth.Unhealthy;
  }
  const changed = health !== prev.health;
  // A result that says something new (ok flipped, another message) is worth a report, but not
  // more often than minReportMs: a flapping probe must not flood the control plane.
  const news = !prev.reported || prev.reported.result.ok !== result.ok || prev.reported.result.message !== result.message;
  const due = !prev.reported || ctx.now - prev.reported.at >= ctx.minReportMs;
  const report = changed || (news && due);
  return {
    state: { health, failures, reported: report ? { result, at: ctx.now } : prev.reported },
    report,
    unhealthy: changed && health === TaskHealth.Unhealthy,
  };
}
