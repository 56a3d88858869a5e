// Reconnect delays: exponential with full jitter, so a thousand agents that lost the same control
// plane do not come back in the same millisecond.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 10_000 };

/** Delay before reconnect attempt `attempt` (0-based): uniform in [0, min(max, initial * 2^attempt)). */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** How long before its fence a cut-off agent makes one more attempt, whatever its backoff. */
export const FENCE_RETRY_LEAD_MS = 2000;

/**
 * The wait before the next reconnect attempt of an agent that will fence at `fenceAtMs`: the
 * backoff `delay`, but never sleeping past the last chance to find a control plane that came back
 * meanwhile (a restart outlasting a few backoff steps must not end in stopped containers).
 */
export function delayBeforeFence(delay: number, nowMs: number, fenceAtMs: number | undefined, leadMs = FENCE_RETRY_LEAD_MS): number {
  if (fenceAtMs === undefined) return delay;
  const lastChance = fenceAtMs - leadMs - nowMs;
  return lastChance > 0 ? Math.min(delay, lastChance) : delay;
}
