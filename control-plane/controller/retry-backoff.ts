// Retry backoff of controllers: how long a key whose work failed waits before it is tried
// again. Exponential (100 ms, 200 ms, 400 ms ... up to a cap), with jitter, so the controllers
// of many servers do not retry an etcd that comes back all at the same moment.
//
// Owns: the delay for a number of consecutive failures. Must not: keep timers or counts (the
// work queue does).

export interface RetryBackoffOptions {
  /** The wait after the first failure (default 100 ms); each further failure doubles it. */
  baseMs?: number;
  /** The longest wait (default 5 s). */
  maxMs?: number;
  /** Up to this fraction of the delay is taken off at random (default 0.2). */
  jitter?: number;
  /** Random number in [0, 1) (tests pin it). */
  random?: () => number;
}

export const DEFAULT_RETRY_BASE_MS = 100;
export const DEFAULT_RETRY_MAX_MS = 5000;
export const DEFAULT_RETRY_JITTER = 0.2;

/** The wait before attempt `failures + 1`, after `failures` (>= 1) consecutive failures. */
export function retryDelay(failures: number, opts: RetryBackoffOptions = {}): number {
  const base = opts.baseMs ?? DEFAULT_RETRY_BASE_MS;
  const max = Math.max(base, opts.maxMs ?? DEFAULT_RETRY_MAX_MS);
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? DEFAULT_RETRY_JITTER));
  const exponent = Math.min(Math.max(0, failures - 1), 30);
  const delay = Math.min(max, base * 2 ** exponent);
  return Math.round(delay * (1 - jitter * (opts.random ?? Math.random)()));
}
