/**
 * Waits `ms` milliseconds, or less if `signal` aborts first. Never rejects: callers that must
 * stop on abort check `signal.aborted` (or `signal.throwIfAborted()`) afterwards.
 * Resolves to true when the full time passed, false when the signal cut it short.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
