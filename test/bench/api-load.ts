// API calls at a fixed, modest rate while a size runs, as users and tools would make them. Open
// loop: a call starts on schedule whether or not the previous one answered (at most 32 in
// flight), so a stalled server shows in the latencies instead of slowing the sampling down.
// The mix, per 10 calls: 4 GETs of one service, 4 small applies (a 0-replica service whose env
// changes, so each is a real write the orchestrator sees), 1 list of nodes, 1 list of services
// (which counts every task, so it grows with the cluster).
//
// With several URLs (`--url A,B,C`: servers of one cluster, sharing its CA and tokens) call n goes to
// URL n mod k, so the load is spread over the servers.
// It runs as a process of its own (`node --import tsx test/bench/api-load.ts --url URL --token-file F --ca-file CA`,
// started by procs.ts): the harness's own event loop is busy decoding every task it watches, and a
// client on that loop would measure its own queue, not the server's answer. On SIGTERM it stops
// starting calls, waits for those in flight and prints {"samples":[...]} on one line.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { percentile } from './measure.js';
import { caFetch } from '../helpers/api-fetch.js';

/** BulkApply: the harness's own applies of the size's services (recorded, not part of the mix). */
/** EtcdGet: a one-key read straight from etcd, the floor any call that reads etcd stands on. */
export const ApiCallKind = { Get: 'get', Apply: 'apply', ListNodes: 'listNodes', ListServices: 'listServices', BulkApply: 'bulkApply', EtcdGet: 'etcdGet' } as const;
export type ApiCallKind = (typeof ApiCallKind)[keyof typeof ApiCallKind];

const MIX: ApiCallKind[] = ['get', 'apply', 'get', 'apply', 'listNodes', 'get', 'apply', 'get', 'apply', 'listServices'];
const MAX_IN_FLIGHT = 32;

export interface ApiSample {
  kind: ApiCallKind;
  /** When the call started (epoch ms), to place slow calls on the run's timeline. */
  startedAt: number;
  ms: number;
  /** The server's own time for the call (its Server-Timing header), when it gave one. */
  serverMs?: number;
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
  /** p50/p99 of a one-key etcd read made alongside (not an API call): etcd's own latency under the load. */
  etcdGetP50Ms: number;
  etcdGetP99Ms: number;
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

export function apiStats(samples: readonly ApiSample[]): ApiStats {
  const etcd = samples.filter((s) => s.kind === ApiCallKind.EtcdGet).map((s) => s.ms);
  samples = samples.filter((s) => s.kind !== ApiCallKind.EtcdGet);
  const ms = (k?: ApiCallKind) => samples.filter((s) => k === undefined || s.kind === k).map((s) => s.ms);
  return {
    apiCalls: samples.length,
    apiErrors: samples.filter((s) => !s.ok).length,
    apiErrorsByStatus: samples.filter((s) => !s.ok).reduce<Record<string, number>>((m, s) => ({ ...m, [String(s.status ?? 0)]: (m[String(s.status ?? 0)] ?? 0) + 1 }), {}),
    apiP50Ms: percentile(ms(), 50),
    apiP99Ms: percentile(ms(), 99),
    apiMutatingP99Ms: percentile(ms(ApiCallKind.Apply), 99),
    apiGetP99Ms: percentile(ms(ApiCallKind.Get), 99),
    apiListServicesP99Ms: percentile(ms(ApiCallKind.ListServices), 99),
    apiListNodesP99Ms: percentile(ms(ApiCallKind.ListNodes), 99),
    apiBulkApplyMaxMs: Math.round(Math.max(0, ...ms(ApiCallKind.BulkApply))),
    etcdGetP50Ms: percentile(etcd, 50),
    etcdGetP99Ms: percentile(etcd, 99),
  };
}

export class ApiLoad {
  readonly samples: ApiSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private n = 0;
  private readonly running = new Set<Promise<void>>();

  private readonly etcd: Etcd3 | undefined;

  constructor(
    private readonly apiUrls: readonly string[],
    private readonly token: string,
    /** Also read one key from this etcd at each tick (EtcdGet samples). */
    etcdUrl?: string,
    private readonly intervalMs = 100,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.etcd = etcdUrl ? new Etcd3({ hosts: etcdUrl }) : undefined;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.fire();
      this.probeEtcd();
    }, this.intervalMs);
  }

  /** Stops starting calls and waits for those in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.running]);
    this.etcd?.close();
  }

  private probeEtcd(): void {
    if (!this.etcd) return;
    const startedAt = Date.now();
    const t0 = performance.now();
    const p = this.etcd
      .get('bench-probe')
      .string()
      .then(
        () => ({ ok: true, status: 200 }),
        () => ({ ok: false, status: 0 }),
      )
      .then((r) => void this.samples.push({ kind: ApiCallKind.EtcdGet, startedAt, ms: performance.now() - t0, ...r }))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  stats(): ApiStats {
    return apiStats(this.samples);
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
    const apiUrl = this.apiUrls[n % this.apiUrls.length]!;
    let url = `${apiUrl}/v1/services/${PROBE_SERVICE}`;
    let init: RequestInit = { headers };
    if (kind === ApiCallKind.Apply) {
      url = `${apiUrl}/v1/apply`;
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ items: [probeService(n)] }) };
    } else if (kind === ApiCallKind.ListNodes) {
      url = `${apiUrl}/v1/nodes`;
    } else if (kind === ApiCallKind.ListServices) {
      url = `${apiUrl}/v1/services`;
    }
    const startedAt = Date.now();
    const t0 = performance.now();
    try {
      const res = await this.fetchFn(url, { ...init, signal: AbortSignal.timeout(60_000) });
      await res.arrayBuffer();
      const serverMs = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
      return { kind, startedAt, ms: performance.now() - t0, ...(Number.isFinite(serverMs) ? { serverMs } : {}), ok: res.ok, status: res.status };
    } catch {
      return { kind, startedAt, ms: performance.now() - t0, ok: false, status: 0 };
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { url: { type: 'string' }, 'token-file': { type: 'string' }, 'ca-file': { type: 'string' }, etcd: { type: 'string' } } });
  if (!values.url || !values['token-file'] || (values.url.startsWith('https:') && !values['ca-file'])) {
    process.stderr.write('usage: api-load.ts --url API_URL[,API_URL...] --token-file FILE --ca-file CA_CRT [--etcd URL]\n');
    return 1;
  }
  const apiFetchFn = values['ca-file'] ? caFetch(readFileSync(values['ca-file'], 'utf8')) : fetch;
  const urls = values.url.split(',');
  const load = new ApiLoad(urls, readFileSync(values['token-file'], 'utf8').trim(), values.etcd, undefined, apiFetchFn);
  // A first call to each outside the measurement: this process's connection set-up is not the server's latency.
  for (const url of urls) await apiFetchFn(`${url}/healthz`).then((r) => r.arrayBuffer());
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  load.start();
  process.stdout.write(`${JSON.stringify({ event: 'started' })}\n`);
  await stopped;
  await load.stop();
  process.stdout.write(`${JSON.stringify({ samples: load.samples })}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`api-load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
