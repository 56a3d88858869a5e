// Following a rollout from the client: `rollout status` and `apply --wait` follow the service
// (status.update, upToDate, available) through the watch API, printing a line each time the
// progress changes; against a server that refuses the watch they poll it instead.
import type { ApiClient, ServiceView } from './api-client.js';
import { UsageError } from './command.js';
import { followWatch } from './watch.js';
import { WatchEventType, WatchKind } from '../common/watch.js';

/** How often the service is read while waiting. */
const POLL_MS = 500;

export const RolloutOutcome = { Complete: 'complete', Failed: 'failed', TimedOut: 'timed-out' } as const;
export type RolloutOutcome = (typeof RolloutOutcome)[keyof typeof RolloutOutcome];

/** `90s`, `5m`, `1h30m`, `250ms` or plain seconds. */
export function parseTimeout(text: string | undefined, verb: string): number | undefined {
  if (text === undefined || text === '0') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (end !== text.length || end === 0) throw new UsageError(`--timeout must be a duration like 90s, 5m or 1h, not "${text}"`, verb);
  return total;
}

/** `updated 2/6, available 5/6: rolling out revision 3: step 2, slots 3,4`. */
export function progressLine(svc: ServiceView): string {
  const st = svc.status;
  if (svc.spec.mode === 'job') return `completed ${st?.completed ?? 0}/${st?.desired ?? svc.spec.completions ?? 1}, running ${st?.running ?? 0} (job ${st?.job ?? 'running'})`;
  const desired = st?.desired ?? svc.spec.replicas ?? 1;
  const u = st?.update;
  const head = `updated ${st?.upToDate ?? 0}/${desired}, available ${st?.available ?? st?.ready ?? 0}/${desired}`;
  return u ? `${head} (${u.state}: ${u.message})` : head;
}

/** Where a service's rollout stands: undefined while it goes on. */
export function outcomeOf(svc: ServiceView): RolloutOutcome | undefined {
  const st = svc.status;
  // A job: done once complete (or failed); `apply --wait` waits for the run to end.
  if (svc.spec.mode === 'job') return st?.job === 'complete' ? RolloutOutcome.Complete : st?.job === 'failed' ? RolloutOutcome.Failed : undefined;
  const u = st?.update;
  if (!u) {
    // A service without a rollout record: complete once every replica is available.
    const desired = st?.desired ?? svc.spec.replicas ?? 1;
    return (st?.available ?? st?.ready ?? 0) >= desired && (st?.upToDate ?? desired) >= desired ? RolloutOutcome.Complete : undefined;
  }
  // A completed rollout of an older revision than the service's: the record of the new
  // revision's rollout (written with it) has not reached this view yet.
  if (u.state === 'completed') return u.revision < (svc.metadata.revision ?? 0) ? undefined : RolloutOutcome.Complete;
  if (u.state === 'paused' || u.state === 'failed' || u.state === 'rolled-back') return RolloutOutcome.Failed;
  return undefined;
}

type WaitOptions = { timeoutMs?: number; out: (line: string) => void; prefix?: string };
type WaitResult = { outcome: RolloutOutcome; service: ServiceView };

/**
 * Follows `name` until its rollout completes, fails (paused, failed, rolled back) or the timeout
 * passes; `out` gets a progress line whenever it changes. A service deleted meanwhile ends it
 * with the API's not-found error.
 */
export async function waitForRollout(client: ApiClient, name: string, opts: WaitOptions): Promise<WaitResult> {
  const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
  let last = '';
  const report = (svc: ServiceView): RolloutOutcome | undefined => {
    const line = `${opts.prefix ?? ''}${progressLine(svc)}`;
    if (line !== last) opts.out(line);
    last = line;
    return outcomeOf(svc);
  };
  let current = await client.getService(name);
  const first = report(current);
  if (first) return { outcome: first, service: current };

  const stop = new AbortController();
  const timer = Number.isFinite(deadline) ? setTimeout(() => stop.abort(), Math.max(0, deadline - Date.now())) : undefined;
  let result: WaitResult | undefined;
  let deleted = false;
  try {
    await followWatch(client, {
      kind: WatchKind.Services,
      signal: stop.signal,
      onChange: (change) => {
        const svc = change.object as ServiceView;
        if (svc.metadata?.name !== name) return;
        if (change.type === WatchEventType.Deleted) {
          deleted = true;
          stop.abort();
          return;
        }
        // A watch cache may trail the read this began with: never go back to an older service.
        if ((svc.metadata.version ?? 0) < (current.metadata.version ?? 0)) return;
        current = svc;
        const outcome = report(svc);
        if (outcome) {
          result = { outcome, service: svc };
          stop.abort();
        }
      },
    });
  } catch {
    // The server refused the watch: read the service every POLL_MS instead.
    if (!stop.signal.aborted) return pollRollout(client, name, deadline, report);
  } finally {
    if (timer) clearTimeout(timer);
  }
  if (deleted) await client.getService(name); // the not-found error
  return result ?? { outcome: RolloutOutcome.TimedOut, service: current };
}

async function pollRollout(client: ApiClient, name: string, deadline: number, report: (svc: ServiceView) => RolloutOutcome | undefined): Promise<WaitResult> {
  for (;;) {
    const svc = await client.getService(name);
    const outcome = report(svc);
    if (outcome) return { outcome, service: svc };
    if (Date.now() >= deadline) return { outcome: RolloutOutcome.TimedOut, service: svc };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}
