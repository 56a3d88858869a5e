// What the benchmark reads about processes and etcd: peak RSS and CPU time from /proc, etcd's DB
// size from its /metrics, and percentiles.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User + system CPU seconds the process has used so far (0 if it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
  } catch {
    return 0;
  }
}

/** Peak resident set size (VmHWM) in bytes, or current (VmRSS) with `current`. */
export function rssBytes(pid: number, current = false): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${current ? 'VmRSS' : 'VmHWM'}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** etcd's backend size (`etcd_mvcc_db_total_size_in_bytes`), 0 if unreadable. */
export async function etcdDbBytes(etcdUrl: string): Promise<number> {
  try {
    const text = await (await fetch(`${etcdUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = /^etcd_mvcc_db_total_size_in_bytes\s+(\S+)$/m.exec(text) ?? /^etcd_debugging_mvcc_db_total_size_in_bytes\s+(\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Nearest-rank percentile of unsorted samples (0 for none). */
export function percentile(samples: readonly number[], p: number): number {
  if (!samples.length) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[rank]!);
}

/** Largest value (no spread: maps of 50,000 entries exceed the argument limit). */
export function maxOf(values: Iterable<number>): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return m;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  etcd: string;
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  let etcd = 'unknown';
  try {
    etcd = /etcd Version:\s*(\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))?.[1] ?? etcd;
  } catch {
    // not on PATH: the run fails later with a clear message
  }
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    etcd,
    loadAverage1m: round(os.loadavg()[0] ?? 0, 2),
  };
}
