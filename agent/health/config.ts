// A task's health check with defaults applied and durations in milliseconds: the one shape the
// prober and the probes work from (the spec itself stays as the user wrote it).
import { SPEC_DEFAULTS } from '../../common/manifest/schema.js';
import type { HealthCheckSpec } from '../../common/types.js';

export const ProbeKind = { Http: 'http', Tcp: 'tcp', Exec: 'exec' } as const;
export type ProbeKind = (typeof ProbeKind)[keyof typeof ProbeKind];

export type ProbeSpec =
  | { kind: typeof ProbeKind.Http; port: number; path: string }
  | { kind: typeof ProbeKind.Tcp; port: number }
  | { kind: typeof ProbeKind.Exec; command: string[] };

export interface HealthCheckConfig {
  probe: ProbeSpec;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  startPeriodMs: number;
}

const D = SPEC_DEFAULTS.healthCheck;

/** undefined when the spec has no check (or, past validation, names no probe). */
export function compileHealthCheck(spec: HealthCheckSpec | undefined): HealthCheckConfig | undefined {
  if (!spec) return undefined;
  let probe: ProbeSpec;
  if (spec.http) probe = { kind: ProbeKind.Http, port: spec.http.port, path: spec.http.path ?? D.httpPath };
  else if (spec.tcp) probe = { kind: ProbeKind.Tcp, port: spec.tcp.port };
  else if (spec.exec) probe = { kind: ProbeKind.Exec, command: spec.exec.command };
  else return undefined;
  return {
    probe,
    intervalMs: (spec.intervalSeconds ?? D.intervalSeconds) * 1000,
    timeoutMs: (spec.timeoutSeconds ?? D.timeoutSeconds) * 1000,
    failureThreshold: spec.failureThreshold ?? D.failureThreshold,
    startPeriodMs: (spec.startPeriodSeconds ?? D.startPeriodSeconds) * 1000,
  };
}
