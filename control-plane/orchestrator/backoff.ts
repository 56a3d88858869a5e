// Restart backoff: how soon a task that ended by itself is replaced in its slot. A slot that
// keeps crashing waits longer and longer (1 s, 2 s, 4 s ... up to a cap), so a broken image
// does not keep a node busy pulling and starting it; a task that had been running for a while
// was not crash-looping, so its replacement starts the count again.
import type { RestartPolicySpec, Task } from '../../common/types.js';

export interface BackoffOptions {
  /** Longest wait between two restarts of a slot (default 5 minutes). */
  maxMs?: number;
  /** A task that ran at least this long resets its slot's count (default 60 s). */
  resetWindowMs?: number;
}

export const DEFAULT_BACKOFF_MAX_MS = 5 * 60_000;
export const DEFAULT_RESET_WINDOW_MS = 60_000;
/** The wait before the second consecutive restart; each later one doubles it. */
const BASE_DELAY_MS = 1000;

/** The `restarts` of the task replacing `ended`, which ended by itself. */
export function nextRestarts(ended: Task, now: string, opts: BackoffOptions = {}): number {
  const startedAt = Date.parse(ended.restartAt ?? ended.createdAt);
  const endedAt = Date.parse(ended.status.timestamp) || Date.parse(now);
  if (endedAt - startedAt >= (opts.resetWindowMs ?? DEFAULT_RESET_WINDOW_MS)) return 0;
  return (ended.restarts ?? 0) + 1;
}

/**
 * Wait before starting restart number `restarts` of a slot: the policy's delay (default none)
 * for the first, then 1 s (or the policy's delay if longer), doubling up to the cap.
 */
export function restartDelayMs(restarts: number, policy: RestartPolicySpec | undefined, opts: BackoffOptions = {}): number {
  const configured = Math.max(0, (policy?.delaySeconds ?? 0) * 1000);
  if (restarts <= 1) return configured;
  const cap = opts.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
  const base = Math.max(BASE_DELAY_MS, configured);
  // 2 ** 30 is already past any sensible cap; avoid Infinity for absurd counts.
  return Math.min(cap, base * 2 ** Math.min(30, restarts - 2));
}

/** `crash-looping: restart 4, next retry at 12:00:08 (in 8s)` (UTC clock time). */
export function crashLoopMessage(restarts: number, restartAt: string, delayMs: number): string {
  const clock = restartAt.slice(11, 19);
  return `crash-looping: restart ${restarts}, next retry at ${clock} (in ${formatDelay(delayMs)})`;
}

function formatDelay(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}
