// A real etcd per test suite: random loopback ports, a temporary data dir, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { EmbeddedEtcd } from '../../control-plane/etcd/embedded.js';
import { Store } from '../../control-plane/store/store.js';
import { errorMessage } from '../../common/errors.js';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestEtcd {
  etcd: EmbeddedEtcd;
  dataDir: string;
  endpoints: string[];
  /** A store on a fresh random prefix, closed by stop(). */
  newStore(prefix?: string): Store;
  /** Stops etcd and keeps its data (to test restarts); start it again with restart(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestEtcd(): Promise<TestEtcd> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-etcd-'));
  let etcd = await EmbeddedEtcd.start({ dataDir, logger: silentLogger });
  const port = Number(new URL(etcd.clientUrl).port);
  const stores: Store[] = [];
  const t: TestEtcd = {
    get etcd() {
      return etcd;
    },
    dataDir,
    endpoints: etcd.endpoints,
    newStore(prefix?: string) {
      const s = new Store({
        endpoints: etcd.endpoints,
        prefix: prefix ?? `/test-${Math.random().toString(36).slice(2, 8)}/`,
        logger: silentLogger,
      });
      stores.push(s);
      return s;
    },
    async restart() {
      await etcd.stop();
      etcd = await EmbeddedEtcd.start({ dataDir, logger: silentLogger, clientPort: port });
    },
    async stop() {
      for (const s of stores) s.close();
      await etcd.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
