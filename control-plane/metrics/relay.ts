// The main thread's metrics, handed to the API thread: the API thread answers `GET /metrics`
// (it owns the HTTP server and its authentication), the main thread holds the controllers,
// informers and most instruments. The API thread asks over a MessagePort, the main thread
// answers with its registry as JSON, and the API thread sums both registries (prom-client's
// aggregator, made for one registry per worker) so a metric both threads record (etcd requests)
// is one series.
//
// Owns: the request/answer protocol between the threads.
import type { MessagePort } from 'node:worker_threads';
import { AggregatorRegistry, type Registry } from 'prom-client';

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

type Request = { id: number };
type Answer = { id: number; metrics?: MetricsJson; error?: string };

/** Main thread: answers the API thread's requests with `registry` (stopped with the port). */
export function serveMetrics(port: MessagePort, registry: Registry): void {
  port.on('message', (m: Request) => {
    registry.getMetricsAsJSON().then(
      (metrics) => port.postMessage({ id: m.id, metrics } satisfies Answer),
      (err: Error) => port.postMessage({ id: m.id, error: err.message } satisfies Answer),
    );
  });
}

const ANSWER_TIMEOUT_MS = 5000;

/** API thread: the exposition text of `own` plus the main thread's metrics. */
export class MetricsRelay {
  private seq = 0;
  private readonly waiting = new Map<number, (a: Answer) => void>();

  constructor(
    private readonly port: MessagePort,
    private readonly own: Registry,
  ) {
    port.on('message', (a: Answer) => {
      const done = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      done?.(a);
    });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    const id = ++this.seq;
    const answer = await new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, error: `the control plane did not answer within ${ANSWER_TIMEOUT_MS} ms` });
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.port.postMessage({ id } satisfies Request);
    });
    if (answer.error || !answer.metrics) throw new Error(answer.error ?? 'no metrics');
    const merged = AggregatorRegistry.aggregate([answer.metrics, await this.own.getMetricsAsJSON()]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  close(): void {
    this.port.close();
  }
}
