// The short human-readable summary printed after the JSON lines.
import path from 'node:path';
import type { ContainersResult } from './containers.js';
import type { SizeResult } from './hollow-size.js';

const MiB = 1024 ** 2;

export function formatTable(sizes: readonly SizeResult[], containers?: ContainersResult): string {
  const head = ['tree', 'servers', 'load', 'nodes', 'tasks', 'nodes ready s', 'join CPU ms/node', 'hollow RSS MiB', 'all running s', 'placements/s', 'api p50 ms', 'api p99 ms', 'apply p99 ms', 'cp peak RSS MiB', 'cp CPU s', 'etcd DB MiB', '/metrics p50 ms', '/metrics KiB'];
  const rows = sizes.map((s) => [
    s.tree === 'this' ? 'this' : path.basename(s.tree),
    String(s.servers),
    s.loadAverage1m.toFixed(2),
    String(s.nodes),
    String(s.tasks),
    s.joinSeconds.toFixed(2),
    s.joinCpuMsPerNode.toFixed(1),
    (s.hollowPeakRssBytes / MiB).toFixed(0),
    s.completed ? s.secondsToAllRunning.toFixed(2) : `>${s.secondsToAllRunning.toFixed(0)} (${s.tasksRunning} ran)`,
    String(s.placementsPerSecond),
    s.apiP50Ms.toFixed(1),
    s.apiP99Ms.toFixed(1),
    s.apiMutatingP99Ms.toFixed(1),
    (s.controlPlanePeakRssBytes / MiB).toFixed(0),
    s.controlPlaneCpuSeconds.toFixed(1),
    (s.etcdDbBytes / MiB).toFixed(1),
    s.metricsScrapeP50Ms?.toFixed(1) ?? '-',
    s.metricsBytes !== undefined ? (s.metricsBytes / 1024).toFixed(0) : '-',
  ]);
  const lines: string[] = [];
  if (rows.length) lines.push(alignedTable(head, rows));
  if (containers) {
    lines.push(
      `containers: ${containers.containers} x berth/web, median of ${containers.rounds.length} rounds: direct Docker ${containers.dockerDirectSeconds.toFixed(2)} s, ` +
        `Berth ${containers.completed ? containers.berthSeconds.toFixed(2) : 'did not finish'} s, ratio ${containers.overheadRatio.toFixed(2)}x` +
        ` (rounds: ${containers.rounds.map((r) => `${r.overheadRatio.toFixed(2)}x`).join(', ')})`,
    );
  }
  return lines.join('\n');
}

/** A header line and rows, each column right-aligned to its widest cell, two spaces apart. */
export function alignedTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: readonly string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}
