import assert from 'node:assert/strict';
import { INITIAL_HEALTH, judge, type HealthState, type JudgeContext } from '../../agent/health/verdict.js';
import type { ProbeResult } from '../../agent/health/probes.js';

const ok: ProbeResult = { ok: true, message: 'GET http://10.0.0.2:8080/ -> 200' };
const bad: ProbeResult = { ok: false, message: 'GET http://10.0.0.2:8080/ -> 500' };
const ctx = (over: Partial<JudgeContext> = {}): JudgeContext => ({
  failureThreshold: 3,
  inStartPeriod: false,
  now: 0,
  minReportMs: 5000,
  ...over,
});

/** Feeds results one per second; returns each verdict. */
function feed(results: ProbeResult[], over: Partial<JudgeContext> = {}, start: HealthState = INITIAL_HEALTH) {
  let state = start;
  return results.map((r, i) => {
    const v = judge(state, r, ctx({ now: i * 1000, ...over }));
    state = v.state;
    return v;
  });
}

describe('health verdicts', () => {
  it('is starting until the first verdict, healthy on a success, reported at once', () => {
    const [first] = feed([ok]);
    assert.equal(INITIAL_HEALTH.health, 'starting');
    assert.equal(first!.state.health, 'healthy');
    assert.equal(first!.report, true);
    assert.equal(first!.unhealthy, false);
  });

  it('becomes unhealthy after failureThreshold consecutive failures, and only then', () => {
    const vs = feed([ok, bad, bad, ok, bad, bad, bad]);
    assert.deepEqual(
      vs.map((v) => v.state.health),
      ['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'unhealthy'],
    );
    assert.deepEqual(
      vs.map((v) => v.unhealthy),
      [false, false, false, false, false, false, true],
    );
    assert.equal(vs[6]!.report, true);
  });

  it('does not count failures in the start period before any success', () => {
    const inStart = feed([bad, bad, bad, bad], { inStartPeriod: true });
    assert.ok(inStart.every((v) => v.state.health === 'starting' && !v.unhealthy));
    const after = feed([bad, bad, bad], {}, inStart.at(-1)!.state);
    assert.deepEqual(
      after.map((v) => v.state.health),
      ['starting', 'starting', 'unhealthy'],
    );
  });

  it('counts failures in the start period once a probe has succeeded', () => {
    const vs = feed([ok, bad, bad, bad], { inStartPeriod: true });
    assert.equal(vs.at(-1)!.state.health, 'unhealthy');
  });

  it('reports probe results that change no health only when they say something new, and not too often', () => {
    // healthy at t=0 (reported), same result at t=1..3 (nothing new), a failure at t=4 (new, but
    // within 5 s of the last report), still failing at t=5 (new and due).
    const vs = feed([ok, ok, ok, ok, bad, bad]);
    assert.deepEqual(
      vs.map((v) => v.report),
      [true, false, false, false, false, true],
    );
  });
});
