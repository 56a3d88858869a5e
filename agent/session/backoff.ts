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
