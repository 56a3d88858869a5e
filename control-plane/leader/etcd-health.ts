// Whether this server's etcd answers, for its registration (`berth get servers`, ETCD column).
// Owns: a periodic check (every CHECK_EVERY_MS) of each etcd endpoint this server uses
// (`GET <endpoint>/health`, which etcd answers `{"health":"true"}` only with a leader and no
// alarm) together with the store's own view (a call or the watch stream went unanswered), and
// telling its listener when the verdict changes. `healthy`: every endpoint answers healthy and
// the store's calls are answered; `unhealthy` names the endpoints that do not.
// Must not: write anything itself (the registration does), or retry the store's calls.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';

export const EtcdHealthState = { Healthy: 'healthy', Unhealthy: 'unhealthy' } as const;
export type EtcdHealthState = (typeof EtcdHealthState)[keyof typeof EtcdHealthState];

export interface EtcdHealthReport {
  etcd: EtcdHealthState;
  /** The endpoints that did not answer healthy, with why (unhealthy only). */
  etcdProblems?: string[];
}

export const CHECK_EVERY_MS = 5000;
const CHECK_TIMEOUT_MS = 2000;

export interface EtcdHealthOptions {
  endpoints: string[];
  /** The store's own view: false while its calls or watch go unanswered. */
  storeAnswering: () => boolean;
  logger: Logger;
  everyMs?: number;
  fetch?: typeof fetch;
}

export class EtcdHealth {
  private timer: NodeJS.Timeout | undefined;
  private last: EtcdHealthReport = { etcd: EtcdHealthState.Healthy };
  private listener: ((r: EtcdHealthReport) => void) | undefined;
  private readonly log: Logger;
  private checking = false;

  constructor(private readonly opts: EtcdHealthOptions) {
    this.log = opts.logger.child({ component: 'etcd-health' });
  }

  get report(): EtcdHealthReport {
    return this.last;
  }

  /**
   * Checks once (the first report, unless `first` is the result of a check just made), then
   * every interval; `changed` hears each change after.
   */
  async start(changed: (r: EtcdHealthReport) => void, first?: EtcdHealthReport): Promise<EtcdHealthReport> {
    this.last = first ?? (await this.check());
    this.listener = changed;
    this.timer = setInterval(() => void this.tick(), this.opts.everyMs ?? CHECK_EVERY_MS);
    this.timer.unref();
    return this.last;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.listener = undefined;
  }

  private async tick(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const next = await this.check();
      if (sameReport(next, this.last)) return;
      this.last = next;
      if (next.etcd === EtcdHealthState.Healthy) this.log.info('etcd answers again');
      else this.log.warn({ problems: next.etcdProblems }, 'etcd unhealthy');
      this.listener?.(next);
    } finally {
      this.checking = false;
    }
  }

  async check(): Promise<EtcdHealthReport> {
    const problems = (await Promise.all(this.opts.endpoints.map((e) => this.endpointProblem(e)))).filter((p): p is string => !!p);
    if (!this.opts.storeAnswering()) problems.push('the store\'s calls go unanswered');
    return problems.length ? { etcd: EtcdHealthState.Unhealthy, etcdProblems: problems } : { etcd: EtcdHealthState.Healthy };
  }

  private async endpointProblem(endpoint: string): Promise<string | undefined> {
    const f = this.opts.fetch ?? fetch;
    try {
      const res = await f(`${endpoint.replace(/\/+$/, '')}/health`, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
      const body = (await res.json().catch(() => ({}))) as { health?: unknown; reason?: unknown };
      if (res.ok && String(body.health) === 'true') return undefined;
      return `${endpoint}: not healthy${typeof body.reason === 'string' && body.reason ? ` (${body.reason})` : ` (HTTP ${res.status})`}`;
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string } };
      return `${endpoint}: ${e.name === 'TimeoutError' ? `no answer within ${CHECK_TIMEOUT_MS} ms` : (e.cause?.code ?? errorMessage(err))}`;
    }
  }
}

function sameReport(a: EtcdHealthReport, b: EtcdHealthReport): boolean {
  return a.etcd === b.etcd && (a.etcdProblems ?? []).join('\n') === (b.etcdProblems ?? []).join('\n');
}
