// What the docker benchmarks share (healing.ts, failover.ts, workloads.ts): polling until a
// condition holds, a service's tasks through the API, and cleaning up on Ctrl-C.
// Owns: those helpers. Must not: measure anything itself.
import type { Task } from '../../common/types.js';
import { sleep } from '../../common/sleep.js';
import type { TestServer } from '../helpers/berth.js';

/** The tasks of a service through the API (cheaper than the CLI, so polling does not load the machine). */
export async function tasksOf(server: TestServer, service: string): Promise<Task[]> {
  const res = await server.fetch(`${server.url}/v1/tasks?service=${encodeURIComponent(service)}`, {
    headers: { authorization: `Bearer ${server.token}` },
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`GET /v1/tasks: ${res.status}`);
  return ((await res.json()) as { items: Task[] }).items;
}

/** `fn`'s first defined answer (errors count as not yet), polled every `everyMs`; throws after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** On SIGINT or SIGTERM: `cleanup` once, then exit 130. */
export function cleanUpOnSignal(cleanup: () => Promise<void>, progress: (line: string) => void): void {
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    progress('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
