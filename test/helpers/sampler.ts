// Polls a reading about every 100 ms until stopped, for tests that assert a bound held at every
// sampled moment (e.g. never fewer than N ready tasks during a rollout or a drain). A reading that
// fails or returns undefined (a slow or failed answer) is skipped, not counted.
export interface Sampler<T> {
  /** Stops polling, waits for the reading in flight, returns every sample in order. */
  stop(): Promise<Array<T & { at: number }>>;
}

export function startSampler<T extends object>(read: () => Promise<T | undefined>, intervalMs = 100): Sampler<T> {
  const samples: Array<T & { at: number }> = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const sample = await read();
        if (sample) samples.push({ at: Date.now(), ...sample });
      } catch {
        // skipped, not counted
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

