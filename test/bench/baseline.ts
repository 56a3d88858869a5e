// The machine's own baseline, measured in the same run, so the control plane's figures can be
// read against what etcd alone does here: puts of 800-byte values, 128 per transaction (one
// transaction at a time, and four in flight) and one put at a time. Uses a fresh etcd of its own,
// so the sizes' DB figures are not inflated by it.
import { pino } from 'pino';
import { MAX_TXN_OPS, Store, type WriteOp } from '../../control-plane/store/store.js';
import { round } from './measure.js';
import { startEtcd } from './procs.js';

export interface Baseline {
  /** Keys/s, 128 puts per txn, one txn at a time (the way Store.batch writes). */
  baselineEtcdBatchedPutsPerSecond: number;
  /** Keys/s, 128 puts per txn, 4 txns in flight. */
  baselineEtcdBatchedParallelPutsPerSecond: number;
  /** Keys/s, one put per request, one at a time. */
  baselineEtcdSinglePutsPerSecond: number;
}

const VALUE = 'x'.repeat(798); // JSON-encoded: 800 bytes

export async function measureBaseline(opts: { batchedKeys?: number; singleKeys?: number } = {}): Promise<Baseline> {
  const etcd = await startEtcd();
  const store = new Store({ endpoints: [etcd.url], prefix: '/baseline/', logger: pino({ level: 'silent' }), timeoutMs: 30_000 });
  try {
    const batchedKeys = opts.batchedKeys ?? 25_600;
    const singleKeys = opts.singleKeys ?? 1000;
    const chunks = (tag: string): WriteOp[][] => {
      const out: WriteOp[][] = [];
      for (let i = 0; i < batchedKeys; i += MAX_TXN_OPS) {
        out.push(Array.from({ length: Math.min(MAX_TXN_OPS, batchedKeys - i) }, (_, j) => ({ type: 'put', key: `${tag}/${i + j}`, value: VALUE })));
      }
      return out;
    };
    await store.txn([{ type: 'put', key: 'warm-up', value: VALUE }]);

    const seq = chunks('seq');
    let t0 = performance.now();
    for (const c of seq) await store.txn(c);
    const batched = batchedKeys / ((performance.now() - t0) / 1000);

    const par = chunks('par');
    t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < par.length) await store.txn(par[next++]!);
      }),
    );
    const parallel = batchedKeys / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    for (let i = 0; i < singleKeys; i++) await store.put(`single/${i}`, VALUE);
    const single = singleKeys / ((performance.now() - t0) / 1000);
    return {
      baselineEtcdBatchedPutsPerSecond: round(batched, 0),
      baselineEtcdBatchedParallelPutsPerSecond: round(parallel, 0),
      baselineEtcdSinglePutsPerSecond: round(single, 0),
    };
  } finally {
    store.close();
    await etcd.stop();
  }
}
