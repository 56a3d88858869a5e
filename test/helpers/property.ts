// Settings of the property-based tests (fast-check): one fixed seed for every property, so a
// run is reproducible; BERTH_FC_SEED picks another. On failure fast-check prints the seed and
// the path of the counterexample; BERTH_FC_SEED and BERTH_FC_PATH replay it. BERTH_FC_RUNS
// runs each property that many times instead (a longer search, by hand).
import type { Parameters } from 'fast-check';

const DEFAULT_SEED = 20261206;

export const FC_SEED = process.env.BERTH_FC_SEED ? Number(process.env.BERTH_FC_SEED) : DEFAULT_SEED;

/** fc.assert parameters: `numRuns` runs from the fixed seed (and the replay path, if given). */
export function fcParams<T>(numRuns: number): Parameters<T> {
  const runs = process.env.BERTH_FC_RUNS ? Number(process.env.BERTH_FC_RUNS) : numRuns;
  return { seed: FC_SEED, numRuns: runs, ...(process.env.BERTH_FC_PATH ? { path: process.env.BERTH_FC_PATH } : {}) };
}
