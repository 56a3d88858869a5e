// The three probes (http, tcp, exec) and how to aim them at one instance through the driver's
// optional abilities. A probe never throws: every outcome is a result with a message a user can
// read in `describe task`.
import http from 'node:http';
import net from 'node:net';
import { ExecTimeoutError, isExecer, isProbeTarget, type Driver } from '../driver/driver.js';
import { assertNever } from '../../common/types.js';
import { ProbeKind, type HealthCheckConfig } from './config.js';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export type Probe = () => Promise<ProbeResult>;

/** How much of an exec probe's output goes into its message. */
const EXEC_OUTPUT_CHARS = 200;

/** GET http://host:port/path without following redirects: 2xx and 3xx are healthy. */
export function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  const what = `GET http://${hostForUrl(host)}:${port}${path}`;
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, agent: false, headers: { 'user-agent': 'berth-health' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `${what} -> ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs / 1000}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, message: `${what} -> ${err.code ?? err.message}` }));
  });
}

/** Healthy when a TCP connection opens within the timeout. */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const what = `TCP ${hostForUrl(host)}:${port}`;
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, message: `${what} -> timed out after ${timeoutMs / 1000}s` }), timeoutMs);
    sock.once('connect', () => done({ ok: true, message: `${what} -> connected` }));
    sock.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, message: `${what} -> ${err.code ?? err.message}` }));
  });
}

/** The probe of one instance as its health check describes it. */
export function probeFor(check: HealthCheckConfig, driver: Driver, instanceId: string): Probe {
  const p = check.probe;
  switch (p.kind) {
    case ProbeKind.Http:
    case ProbeKind.Tcp:
      return async () => {
        if (!isProbeTarget(driver)) return { ok: false, message: `the ${driver.name} driver cannot run ${p.kind} probes` };
        let host: string | undefined;
        try {
          host = await driver.probeAddress(instanceId);
        } catch (err) {
          return { ok: false, message: `finding the instance's address: ${errorMessage(err)}` };
        }
        if (!host) return { ok: false, message: 'the instance has no address to probe (not running?)' };
        return p.kind === ProbeKind.Http ? httpProbe(host, p.port, p.path, check.timeoutMs) : tcpProbe(host, p.port, check.timeoutMs);
      };
    case ProbeKind.Exec:
      return async () => {
        const what = `exec ${JSON.stringify(p.command)}`;
        if (!isExecer(driver)) return { ok: false, message: `the ${driver.name} driver cannot run exec probes` };
        try {
          const r = await driver.exec(instanceId, p.command, check.timeoutMs);
          const out = r.output.trim().slice(-EXEC_OUTPUT_CHARS);
          return { ok: r.exitCode === 0, message: `${what} -> exit code ${r.exitCode}${out ? `: ${out}` : ''}` };
        } catch (err) {
          if (err instanceof ExecTimeoutError) return { ok: false, message: `${what} -> ${err.message}` };
          return { ok: false, message: `${what} -> ${errorMessage(err)}` };
        }
      };
    default:
      return assertNever(p);
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
