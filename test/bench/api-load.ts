// API calls at a fixed, modest rate while a size runs, as users and tools would make them. Open
// loop: a call starts on schedule whether or not the previous one answered (at most 32 in
// flight), so a stalled server shows in the latencies instead of slowing the sampling down.
// The mix, per 10 calls: 4 GETs of one service, 4 small applies (a 0-replica service whose env
// changes, so each is a real write the orchestrator sees), 1 list of nodes, 1 list of services
// (which counts every task, so it grows with the cluster).
import { percentile } from './measure.js';

/** BulkApply: the harness's own applies of the size's services (recorded, not part of the mix). */
export const ApiCallKind = { Get: 'get', Apply: 'apply', ListNodes: 'listNodes', ListServices: 'listServices', BulkApply: 'bulkApply' } as const;
export type ApiCallKind = (typeof ApiCallKind)[keyof typeof ApiCallKind];

const MIX: ApiCallKind[] = ['get', 'apply', 'get', 'apply', 'listNodes', 'get', 'apply', 'get', 'apply', 'listServices'];
const MAX_IN_FLIGHT = 32;

export interface ApiSample {
  kind: ApiCallKind;
  ms: number;
  ok: boolean;
  /** HTTP status, or 0 when no answer came (timeout, connection error). */
  status?: number;
}

export interface ApiStats {
  apiCalls: number;
  apiErrors: number;
  /** Failed calls by HTTP status ("0" = no answer). */
  apiErrorsByStatus: Record<string, number>;
  apiP50Ms: number;
  apiP99Ms: number;
  /** p99 of the small applies alone (the mutating calls of Kubernetes' 1 s SLO). */
  apiMutatingP99Ms: number;
  /** p99 of the single-object GETs alone. */
  apiGetP99Ms: number;
  /** p99 of GET /v1/services (lists every task). */
  apiListServicesP99Ms: number;
  /** p99 of GET /v1/nodes (every node with its task count). */
  apiListNodesP99Ms: number;
  /** The slowest of the harness's applies of the size's services (25 services of 1,000 replicas each). */
  apiBulkApplyMaxMs: number;
}

export const PROBE_SERVICE = 'bench-probe';

export function probeService(n: number): object {
  return {
    apiVersion: 'berth/v1',
    kind: 'Service',
    metadata: { name: PROBE_SERVICE },
    spec: { image: 'berth/web:latest', replicas: 0, env: { ROUND: String(n) } },
  };
}

export class ApiLoad {
  readonly samples: ApiSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private n = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly apiUrl: string,
    private readonly token: string,
    private readonly intervalMs = 100,
  ) {}

  /** Records a call made elsewhere (the size's own apply). */
  record(sample: ApiSample): void {
    this.samples.push(sample);
  }

  start(): void {
    this.timer = setInterval(() => this.fire(), this.intervalMs);
  }

  /** Stops starting calls and waits for those in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.running]);
  }

  stats(): ApiStats {
    const ms = (k?: ApiCallKind) => this.samples.filter((s) => k === undefined || s.kind === k).map((s) => s.ms);
    return {
      apiCalls: this.samples.length,
      apiErrors: this.samples.filter((s) => !s.ok).length,
      apiErrorsByStatus: this.samples.filter((s) => !s.ok).reduce<Record<string, number>>((m, s) => ({ ...m, [String(s.status ?? 0)]: (m[String(s.status ?? 0)] ?? 0) + 1 }), {}),
      apiP50Ms: percentile(ms(), 50),
      apiP99Ms: percentile(ms(), 99),
      apiMutatingP99Ms: percentile(ms(ApiCallKind.Apply), 99),
      apiGetP99Ms: percentile(ms(ApiCallKind.Get), 99),
      apiListServicesP99Ms: percentile(ms(ApiCallKind.ListServices), 99),
      apiListNodesP99Ms: percentile(ms(ApiCallKind.ListNodes), 99),
      apiBulkApplyMaxMs: Math.round(Math.max(0, ...ms(ApiCallKind.BulkApply))),
    };
  }

  private fire(): void {
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    const n = this.n++;
    const kind = MIX[n % MIX.length]!;
    this.inFlight++;
    const p = this.call(kind, n)
      .then((s) => void this.samples.push(s))
      .finally(() => {
        this.inFlight--;
        this.running.delete(p);
      });
    this.running.add(p);
  }

  private async call(kind: ApiCallKind, n: number): Promise<ApiSample> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    let url = `${this.apiUrl}/v1/services/${PROBE_SERVICE}`;
    let init: RequestInit = { headers };
    if (kind === ApiCallKind.Apply) {
      url = `${this.apiUrl}/v1/apply`;
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ items: [probeService(n)] }) };
    } else if (kind === ApiCallKind.ListNodes) {
      url = `${this.apiUrl}/v1/nodes`;
    } else if (kind === ApiCallKind.ListServices) {
      url = `${this.apiUrl}/v1/services`;
    }
    const t0 = performance.now();
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      return { kind, ms: performance.now() - t0, ok: res.ok, status: res.status };
    } catch {
      return { kind, ms: performance.now() - t0, ok: false, status: 0 };
    }
  }
}
