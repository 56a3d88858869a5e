import assert from 'node:assert/strict';
import type { TaskHealth } from '../../common/types.js';
import { Prober, type Clock, type LastProbe } from '../../agent/health/prober.js';
import type { ProbeResult } from '../../agent/health/probes.js';
import { compileHealthCheck } from '../../agent/health/config.js';
import { eventually, silentLogger } from '../helpers/etcd.js';

/** Virtual time: a sleep advances the clock at once, so a test never waits for real intervals. */
function virtualClock(): Clock & { t: number } {
  const c = {
    t: 1_000_000,
    now: () => c.t,
    sleep: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        if (!signal.aborted) c.t += ms;
        setImmediate(resolve);
      }),
  };
  return c;
}

interface Run {
  prober: Prober;
  reports: { health: TaskHealth; lastProbe: LastProbe; at: number }[];
  unhealthy: { result: ProbeResult; failures: number; probes: number; at: number }[];
  probes: number[];
}

/** A prober whose probe answers from `script` (the last answer repeats). */
function start(script: boolean[], check: Parameters<typeof compileHealthCheck>[0], clock = virtualClock()): Run {
  const cfg = compileHealthCheck(check)!;
  const run: Run = { prober: undefined as unknown as Prober, reports: [], unhealthy: [], probes: [] };
  run.prober = new Prober({
    check: cfg,
    logger: silentLogger,
    clock,
    minReportMs: 1000,
    probe: () => {
      run.probes.push(clock.t);
      const ok = script[Math.min(run.probes.length - 1, script.length - 1)]!;
      return Promise.resolve({ ok, message: ok ? 'fine' : `failure ${run.probes.length}` });
    },
    onReport: (health, lastProbe) => run.reports.push({ health, lastProbe, at: clock.t }),
    onUnhealthy: (result, failures) => run.unhealthy.push({ result, failures, probes: run.probes.length, at: clock.t }),
  });
  run.prober.start();
  return run;
}

describe('health prober', () => {
  const running: Prober[] = [];
  afterEach(async () => {
    for (const p of running.splice(0)) await p.stop();
  });

  it('ignores failures during the start period, then turns unhealthy after failureThreshold more', async () => {
    // Interval 200 ms, start period 1 s: probes at 0, 200, ..., 800 ms are excused; those at
    // 1000, 1200 and 1400 ms count.
    const run = start([false], { tcp: { port: 1 }, intervalSeconds: 0.2, startPeriodSeconds: 1, failureThreshold: 3 });
    running.push(run.prober);
    await eventually(() => run.unhealthy.length === 1, 10_000, 'an unhealthy verdict');
    const [verdict] = run.unhealthy;
    assert.equal(verdict!.failures, 3);
    assert.equal(verdict!.probes, 8);
    assert.equal(verdict!.result.message, 'failure 8');
    assert.equal(run.prober.health, 'unhealthy');
    // Before the verdict, health was only ever `starting`; probing stops after it.
    assert.deepEqual(
      run.reports.slice(0, -1).filter((r) => r.health !== 'starting'),
      [],
    );
    assert.equal(run.reports.at(-1)!.health, 'unhealthy');
    const probes = run.probes.length;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(run.probes.length, probes);
  });

  it('turns healthy on the first success inside the start period and counts failures from then on', async () => {
    const run = start([false, true, false, false, false], { exec: { command: ['true'] }, intervalSeconds: 1, startPeriodSeconds: 60 });
    running.push(run.prober);
    await eventually(() => run.unhealthy.length === 1, 10_000, 'an unhealthy verdict');
    assert.equal(run.unhealthy[0]!.probes, 5);
    const changes = run.reports.map((r) => r.health).filter((h, i, all) => h !== all[i - 1]);
    assert.deepEqual(changes, ['starting', 'healthy', 'unhealthy']);
    const healthy = run.reports.find((r) => r.health === 'healthy')!;
    assert.deepEqual({ ok: healthy.lastProbe.ok, message: healthy.lastProbe.message }, { ok: true, message: 'fine' });
    assert.equal(healthy.lastProbe.time, new Date(healthy.at).toISOString());
  });

  it('stays healthy through fewer failures than the threshold, and stops probing when stopped', async () => {
    const run = start([true, false, false, true], { http: { port: 1 }, intervalSeconds: 1 });
    running.push(run.prober);
    await eventually(() => run.probes.length >= 10, 10_000, 'ten probes');
    await run.prober.stop();
    assert.equal(run.prober.health, 'healthy');
    assert.equal(run.unhealthy.length, 0);
    const probes = run.probes.length;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(run.probes.length, probes);
  });
});
