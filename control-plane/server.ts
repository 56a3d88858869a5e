// The control plane, wired together: etcd (embedded or external) -> store -> tokens ->
// orchestrator, scheduler, dispatcher -> API. Each component has start/stop; the Lifecycle stops
// them in reverse order. A local agent is not started here: whatever runs one beside the control
// plane (`berth server`, cli/daemons/server.ts) starts it from what startServer returns.
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { ClusterTokens, JOIN_TOKEN_FILE } from './auth/tokens.js';
import { startApiThread } from './api/thread.js';
import { SecretBox, SECRETS_KEY_FILE } from './secrets/secret-box.js';
import { checkClusterKey, Secrets } from './secrets/secrets.js';
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
import { clientVersion } from '../common/version.js';
import { RESTART_RECONNECT_ALLOWANCE_MS } from './dispatcher/dispatcher.js';
import { Leadership } from './leader/leadership.js';
import { NodeLiveness } from './leader/node-liveness.js';
import { ServerLease } from './leader/server-lease.js';
import { ServerRegistration } from './leader/servers.js';
import { SessionPublisher } from './leader/sessions.js';

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
  /** This server's name among the servers sharing an etcd (default: the host name). */
  name?: string;
  /** TTL of the server lease, hence of the leadership (default 2 s). */
  leaderLeaseSeconds?: number;
}

export const DEFAULT_LEADER_LEASE_SECONDS = 2;

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
    const secretBox = SecretBox.ensure(opts.dataDir);
    const keyProblem = await checkClusterKey(store, secretBox);
    if (keyProblem) log.error(keyProblem);
    const secrets = keyProblem ? undefined : new Secrets(store, secretBox);
    check();

    const events = new EventRecorder({ store, logger: log });
    life.onStop('events', () => events.stop());
    // One watch per prefix for every component below (each decoding every task change was much
    // of the CPU and garbage); stopped after all of them (the Lifecycle stops in reverse order).
    const informers = createSharedInformers(store, log);
    life.onStop('informers', () => stopSharedInformers(informers));
    // This server among those sharing the etcd: its lease (its registration, its agents'
    // sessions and, while it leads, the leader key), the sessions it holds, and the election.
    const name = opts.name ?? os.hostname();
    const lease = new ServerLease(store, opts.leaderLeaseSeconds ?? DEFAULT_LEADER_LEASE_SECONDS, log);
    await lease.start();
    life.onStop('server-lease', () => lease.stop());
    const sessions = new SessionPublisher(store, lease, name, log);
    await sessions.start();
    life.onStop('sessions', () => sessions.stop());
    check();
    const dispatcher = new Dispatcher({
      store,
      logger: log,
      listen: opts.agentListen,
      verifyJoinToken: (t) => tokens.verifyJoin(t),
      tls: { ...pki, ...(opts.nodeCertTtlMs ? { nodeCertTtlMs: opts.nodeCertTtlMs } : {}) },
      heartbeatGraceMs: opts.heartbeatGraceMs,
      events,
      informers,
      sessions,
      ...(secrets ? { secrets } : {}),
    });
    life.onStop('dispatcher', () => dispatcher.stop());
    await dispatcher.start();
    check();
    // The controllers run on the leader only, built afresh for each term around its fenced writer.
    // The orchestrator asks the scheduler to place the tasks it creates (one write per new task);
    // the scheduler starts first, so the orchestrator's first pass can place what it creates.
    const leadership = new Leadership({
      store,
      lease,
      name,
      logger: log,
      events,
      term: (writer) => {
        const scheduler = new Scheduler({ store: writer, logger: log, events, informers });
        const orchestrator = new Orchestrator({ store: writer, logger: log, events, backoff: { maxMs: opts.restartBackoffMaxMs }, informers, placer: scheduler });
        const liveness = new NodeLiveness({
          writer,
          nodes: informers.nodes,
          sessions: sessions.informer,
          graceMs: opts.heartbeatGraceMs,
          allowanceMs: RESTART_RECONNECT_ALLOWANCE_MS,
          logger: log,
          events,
        });
        return [scheduler, orchestrator, liveness];
      },
    });
    life.onStop('leadership', () => leadership.stop());
    await leadership.start();
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
      ...(secrets ? { secretsKeyFile: path.join(opts.dataDir, SECRETS_KEY_FILE) } : {}),
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
    const registration = new ServerRegistration(store, lease, {
      name,
      apiUrl,
      agentAddress: opts.advertiseAddr ?? advertised(opts.agentListen, dispatcher.port),
      serverVersion: clientVersion(),
      startedAt: new Date().toISOString(),
    }, log);
    await registration.start();
    life.onStop('registration', () => registration.stop());
    log.info({ apiUrl, agentPort: dispatcher.port, configFile, name, leader: leadership.isLeader }, 'control plane ready');
    check();
    return { apiUrl, agentPort: dispatcher.port, joinTokenFile: path.join(opts.dataDir, JOIN_TOKEN_FILE), stop: () => life.stop() };
  } catch (err) {
    await life.stop();
    throw err;
  }
}

/** The agent address to show: the listen address, with a wildcard host replaced by the host name. */
function advertised(listen: string, port: number): string {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return `${host === '0.0.0.0' || host === '::' || host === '[::]' || host === '' ? os.hostname() : host}:${port}`;
}
