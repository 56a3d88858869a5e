// The API on an event loop of its own. The controllers (orchestrator, scheduler, dispatcher) keep
// the main thread busy with work per task; an API call queued behind that work waited for it (at
// 5,000 nodes its p99 was the length of that queue). So the API runs in a worker thread with its
// own etcd client, watch cache and event recorder, as Kubernetes runs its API server apart from
// its controllers; logs and exec reach the agents' sessions through stream-bridge.ts.
//
// Owns: starting the thread, passing it its settings, stopping it. The thread's code is
// thread-main.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SharedInformers } from '../store/shared-informers.js';
import { serveStreams, type SessionSource } from './stream-bridge.js';
import { CountsPublisher } from './task-counts.js';
import type { Registry } from 'prom-client';
import { serveMetrics } from '../metrics/relay.js';
import { serveUsage, type UsageSource } from './usage-relay.js';

export interface ApiThreadOptions {
  endpoints: string[];
  etcdPrefix: string;
  /** `ADDR:PORT` to listen on. */
  listen: string;
  /** SHA-256 (hex) of the admin token the API accepts. */
  adminTokenSha256: string;
  /** Logs and exec through the agents' sessions (the dispatcher); without it those routes are absent. */
  streams?: SessionSource;
  /** The main thread's informers: the thread gets task counts from them instead of watching every task. */
  informers: Pick<SharedInformers, 'tasks' | 'services'>;
  /** Where `POST /v1/tokens/join/rotate` writes the new join token, and the CA digest it carries. */
  joinTokenRotation?: { dataDir: string; caDigest: string };
  /** The API's certificate and key (PEM, control-plane/pki/api-cert.ts): it serves HTTPS only. */
  tls: { certPem: string; keyPem: string };
  /** The secrets key file (secret-box.ts): the thread reads it to seal values; without it no secrets routes. */
  secretsKeyFile?: string;
  /** The server's data dir: `POST /v1/cluster/backup` reads the CA, tokens and secrets key there. */
  backupDataDir?: string;
  /** The main thread's metrics registry: `GET /metrics` adds it to the API thread's own. */
  metrics?: Registry;
  /** The dispatcher's usage book: `GET /v1/usage/*` reads it (and asks the other servers). */
  usage?: UsageSource;
  /** The cluster CA (PEM): the other servers' API certificates are checked against it. */
  caPem?: string;
  logger: Logger;
  /** This server's name, and whether it runs an embedded etcd member (leave and rm). */
  serverName?: string;
  embeddedEtcd?: boolean;
  /** Called when the API accepted `berth server leave`. */
  onLeave?: () => void;
}

/** What thread-main.ts receives. */
export interface ApiThreadData {
  endpoints: string[];
  etcdPrefix: string;
  listen: string;
  adminTokenSha256: string;
  logLevel: string;
  streamsPort?: MessagePort;
  countsPort: MessagePort;
  metricsPort?: MessagePort;
  usagePort?: MessagePort;
  caPem?: string;
  joinTokenRotation?: { dataDir: string; caDigest: string };
  tls: { certPem: string; keyPem: string };
  secretsKeyFile?: string;
  backupDataDir?: string;
  serverName?: string;
  embeddedEtcd?: boolean;
}

/** Messages from the thread. */
export type ApiThreadMessage = { type: 'ready'; url: string } | { type: 'failed'; message: string; code?: string } | { type: 'leave' };

export interface ApiThread {
  /** The URL clients use. */
  url: string;
  /** Resolves if the thread ends without being asked to (it crashed). */
  crashed: Promise<Error>;
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 10_000;

/**
 * The thread runs the same code as this one: compiled JavaScript, or (run from the sources) the
 * TypeScript through tsx, whose loader a worker does not inherit from `--import tsx`.
 */
function newWorker(entry: string, here: string, options: WorkerOptions): Worker {
  if (path.extname(entry) !== '.ts') return new Worker(entry, options);
  // tsx's ESM entry, found from its package.json (this module may itself run as CommonJS under
  // tsx, where import.meta.resolve is missing, and tsx's CommonJS entry cannot register in a worker).
  const pkgFile = createRequire(here).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsx = pathToFileURL(path.join(path.dirname(pkgFile), pkg.exports['./esm/api']!.import.default)).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(pathToFileURL(entry).href)}, ${JSON.stringify(pathToFileURL(here).href)}))`;
  return new Worker(code, { ...options, eval: true });
}

export async function startApiThread(opts: ApiThreadOptions): Promise<ApiThread> {
  const here = fileURLToPath(import.meta.url);
  const entry = path.join(path.dirname(here), `thread-main${path.extname(here)}`);
  const channel = opts.streams ? new MessageChannel() : undefined;
  const countsChannel = new MessageChannel();
  const metricsChannel = opts.metrics ? new MessageChannel() : undefined;
  const usageChannel = opts.usage ? new MessageChannel() : undefined;
  const data: ApiThreadData = {
    endpoints: opts.endpoints,
    etcdPrefix: opts.etcdPrefix,
    listen: opts.listen,
    adminTokenSha256: opts.adminTokenSha256,
    logLevel: opts.logger.level,
    tls: opts.tls,
    ...(opts.serverName ? { serverName: opts.serverName, embeddedEtcd: !!opts.embeddedEtcd } : {}),
    ...(opts.joinTokenRotation ? { joinTokenRotation: opts.joinTokenRotation } : {}),
    ...(channel ? { streamsPort: channel.port2 } : {}),
    ...(opts.secretsKeyFile ? { secretsKeyFile: opts.secretsKeyFile } : {}),
    ...(opts.backupDataDir ? { backupDataDir: opts.backupDataDir } : {}),
    countsPort: countsChannel.port2,
    ...(metricsChannel ? { metricsPort: metricsChannel.port2 } : {}),
    ...(usageChannel ? { usagePort: usageChannel.port2 } : {}),
    ...(opts.caPem ? { caPem: opts.caPem } : {}),
  };
  const transferList = [channel?.port2, countsChannel.port2, metricsChannel?.port2, usageChannel?.port2].filter((p) => p !== undefined);
  const worker = newWorker(entry, here, { workerData: data, transferList });
  const stopStreams = channel && opts.streams ? serveStreams(channel.port1, opts.streams) : () => undefined;
  const publisher = new CountsPublisher(opts.informers, countsChannel.port1, opts.logger);
  void publisher.start();
  if (metricsChannel && opts.metrics) serveMetrics(metricsChannel.port1, opts.metrics);
  if (usageChannel && opts.usage) serveUsage(usageChannel.port1, opts.usage);
  const stopServing = () => {
    stopStreams();
    metricsChannel?.port1.close();
    usageChannel?.port1.close();
    void publisher.stop();
    countsChannel.port1.close();
  };
  let stopping = false;
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  let lastError: Error | undefined;
  worker.on('error', (err) => {
    lastError = err;
    opts.logger.error({ component: 'api', err: err.message }, 'API thread failed');
  });
  const crashed = exited.then((code) => {
    stopServing();
    return lastError ?? new Error(`API thread exited with code ${code}`);
  });

  const first = await new Promise<ApiThreadMessage | Error>((resolve) => {
    worker.once('message', resolve);
    void crashed.then(resolve);
  });
  if (first instanceof Error || first.type !== 'ready') {
    await exited;
    if (first instanceof Error) throw first;
    throw Object.assign(new Error(first.type === 'failed' ? first.message : 'the API thread did not start'), first.type === 'failed' && first.code ? { code: first.code } : {});
  }
  worker.on('message', (m: ApiThreadMessage) => {
    if (m.type === 'leave') opts.onLeave?.();
  });
  return {
    url: first.url,
    crashed: crashed.then((err) => (stopping ? new Promise<Error>(() => undefined) : err)),
    stop: async () => {
      if (stopping) return void (await exited);
      stopping = true;
      worker.postMessage('stop');
      const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
