// A mocha root hook: once every test has run, the process must be able to end by itself. A test
// that leaves a child process, socket, server or worker thread open keeps mocha alive for ever
// (it runs without --exit, so such leaks are seen). Rather than hang the run, the guard waits a
// grace period, names what is still open, ends the processes the run started and theirs (by
// pid) and exits with mocha's own verdict.
import { readFileSync } from 'node:fs';

const GRACE_MS = Number(process.env.BERTH_TEST_EXIT_GRACE_MS ?? 30_000);

/** The pids of a process's live descendants, children before their own, from /proc (Linux). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
  } catch {
    return '?';
  }
}

/** One line per open handle, with what can be told about it. */
function describeHandles(): string[] {
  // Node's own (undocumented) list of handles; only the kinds are given where it is missing.
  const list = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  const handles = typeof list === 'function' ? list.call(process) : [];
  return handles.map((h) => {
    const o = h as { constructor?: { name?: string }; remoteAddress?: string; remotePort?: number; localPort?: number; spawnargs?: string[]; threadId?: number; address?: () => unknown };
    const kind = o.constructor?.name ?? typeof h;
    if (o.spawnargs) return `${kind} ${o.spawnargs.join(' ').slice(0, 200)}`;
    if (o.threadId !== undefined) return `${kind} thread ${o.threadId}`;
    if (o.remotePort !== undefined) return `${kind} to ${o.remoteAddress}:${o.remotePort}`;
    if (o.localPort !== undefined) return `${kind} on port ${o.localPort}`;
    const address = typeof o.address === 'function' ? (o.address() as { port?: number } | string | null) : undefined;
    if (address && typeof address === 'object' && address.port !== undefined) return `${kind} listening on port ${address.port}`;
    return kind;
  });
}

export const mochaHooks = {
  afterAll(): void {
    const timer = setTimeout(() => {
      const lines = [
        `test: the run has not ended ${GRACE_MS / 1000} s after its last test; a test left this open:`,
        ...describeHandles().map((d) => `  handle: ${d}`),
        ...process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').map((r) => `  resource: ${r}`),
      ];
      for (const pid of descendants(process.pid)) {
        lines.push(`  process ${pid}: ${commandOf(pid)} (sent SIGKILL)`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.stderr.write(lines.join('\n') + '\n');
      // No code given: mocha's own exit listener sets the exit code from the failures.
      process.exit();
    }, GRACE_MS);
    timer.unref();
  },
};
