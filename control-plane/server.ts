// The control plane, wired together: etcd (embedded or external) -> store -> tokens ->
// orchestrator, scheduler, dispatcher -> API. Each component has start/stop; the Lifecycle stops
// them in reverse order. A local agent is not started here: whatever runs one beside the control
// plane (`berth server`, cli/daemons/server.ts) starts it from what startServer returns.
import path from 'node:path';
import type { Logger } from 'pino';
import { ClusterTokens, JOIN_TOKEN_FILE } from './auth/tokens.js';
import { startApiThread } from './api/thread.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { EmbeddedEtcd } from './etcd/embedded.js';
import { EventRecorder } from './events/recorder.js';
import { Lifecycle, StartAborted } from './lifecycle.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { ensureApiCert } from './pki/api-cert.js';
import { ensureClusterPki } from './pki/setup.js';
import { Scheduler } from './scheduler/scheduler.js';
import { createSharedInformers, stopSharedInformers } from './store/shared-informers.js';
import { Store } from './store/store.js';

export interface ServerOptions {
  dataDir: string;
  /** API address, default 127.0.0.1:7070. */
  listen: string;
  /** gRPC address agents join, default 0.0.0.0:7071. */
  agentListen: string;
  /** External etcd endpoints; empty = run an embedded etcd. */
  etcd: string[];
  etcdPrefix: string;
  heartbeatGraceMs: number;
  /** Longest wait between two restarts of a crash-looping slot. */
  restartBackoffMaxMs?: number;
  /** The address agents dial, if not the listen address (a name in the server certificate). */
  advertiseAddr?: string;
  /** More names (host names, IP addresses) for the server certificate. */
  tlsSans?: string[];
  /** Lifetime of node certificates (default 24 h). */
  nodeCertTtlMs?: number;
}

export const SERVER_DEFAULTS: ServerOptions = {
  dataDir: '/var/lib/berth',
  listen: '127.0.0.1:7070',
  agentListen: '0.0.0.0:7071',
  etcd: [],
  etcdPrefix: '/berth/',
  heartbeatGraceMs: 5000,
};

export interface RunningServer {
  apiUrl: string;
  /** The dispatcher's port, for agents to join. */
  agentPort: number;
  /** Where this data dir keeps the cluster's join token. */
  joinTokenFile: string;
  stop(): Promise<void>;
}

export async function startServer(opts: ServerOptions, log: Logger, life = new Lifecycle(log)): Promise<RunningServer> {
  const check = () => {
    if (life.isStopping) throw new StartAborted();
  };
  try {
    let endpoints = opts.etcd;
    if (!endpoints.length) {
      const etcd = await EmbeddedEtcd.start({ dataDir: opts.dataDir, logger: log });
      life.onStop('embedded-etcd', () => etcd.stop());
      endpoints = etcd.endpoints;
      void etcd.exitedPromise.then(() => {
        if (!life.isStopping) {
          log.error('embedded etcd exited unexpectedly; shutting down');
          void life.stop().then(() => process.exit(1));
        }
      });
    }
    check();
    const store = new Store({ endpoints, prefix: opts.etcdPrefix, logger: log });
    life.onStop('store', () => store.close());
    const pki = await ensureClusterPki(opts, log);
    const apiTls = await ensureApiCert(opts, pki.ca, log);
    const tokens = await ClusterTokens.ensure(store, opts.dataDir, log, pki.ca.digest);
    check();

    const events = new EventRecorder({ store, logger: log });
    life.onStop('events', () => events.stop());
    // One watch per prefix for every component below (each decoding every task change was much
    // of the CPU and garbage); stopped after all of them (the Lifecycle stops in reverse order).
    const informers = createSharedInformers(store, log);
    life.onStop('informers', () => stopSharedInformers(informers));
    // All built (subscribed) before the first starts the informers: none misses a change.
    // The orchestrator asks the scheduler to place the tasks it creates (one write per new task).
    const scheduler = new Scheduler({ store, logger: log, events, informers });
    const orchestrator = new Orchestrator({ store, logger: log, events, backoff: { maxMs: opts.restartBackoffMaxMs }, informers, placer: scheduler });
    life.onStop('orchestrator', () => orchestrator.stop());
    life.onStop('scheduler', () => scheduler.stop());
    const dispatcher = new Dispatcher({
      store,
      logger: log,
      listen: opts.agentListen,
      verifyJoinToken: (t) => tokens.verifyJoin(t),
      tls: { ...pki, ...(opts.nodeCertTtlMs ? { nodeCertTtlMs: opts.nodeCertTtlMs } : {}) },
      heartbeatGraceMs: opts.heartbeatGraceMs,
      events,
      informers,
    });
    life.onStop('dispatcher', () => dispatcher.stop());
    // The scheduler first: the orchestrator's first pass can then place what it creates.
    await scheduler.start();
    await orchestrator.start();
    await dispatcher.start();
    check();

    // The API on its own thread: its calls do not queue behind the controllers' work.
    const api = await startApiThread({
      endpoints,
      etcdPrefix: opts.etcdPrefix,
      listen: opts.listen,
      adminTokenSha256: tokens.adminTokenSha256,
      joinTokenRotation: { dataDir: opts.dataDir, caDigest: pki.ca.digest },
      streams: dispatcher,
      informers,
      tls: apiTls,
      logger: log,
    });
    life.onStop('api', () => api.stop());
    void api.crashed.then(() => {
      if (life.isStopping) return;
      log.error('the API thread ended unexpectedly; shutting down');
      void life.stop().then(() => process.exit(1));
    });
    const apiUrl = api.url;
    const configFile = await tokens.writeClientConfig(opts.dataDir, apiUrl, pki.ca.certPem);
    log.info({ apiUrl, agentPort: dispatcher.port, configFile }, 'control plane ready');
    check();
    return { apiUrl, agentPort: dispatcher.port, joinTokenFile: path.join(opts.dataDir, JOIN_TOKEN_FILE), stop: () => life.stop() };
  } catch (err) {
    await life.stop();
    throw err;
  }
}
