// The control plane, wired together: etcd (embedded or external) -> store -> tokens ->
// orchestrator, scheduler, dispatcher -> API. Each component has start/stop; the Lifecycle stops
// them in reverse order. A local agent is not started here: whatever runs one beside the control
// plane (`berth server`, cli/daemons/server.ts) starts it from what startServer returns.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { ClusterTokens, JOIN_TOKEN_FILE, readSecret } from './auth/tokens.js';
import { startApiThread } from './api/thread.js';
import { SecretBox, SECRETS_KEY_FILE } from './secrets/secret-box.js';
import { checkClusterKey, Secrets } from './secrets/secrets.js';
import { Registries } from './secrets/registries.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { EmbeddedEtcd } from './etcd/embedded.js';
import { advertisePeerUrl, MEMBER_FILE, memberAddress, memberOptions, readMemberFile, waitVoting, writeMemberFile } from './etcd/member.js';
import { LearnerPromoter } from './leader/learners.js';
import { CA_KEY_FILE } from './pki/ca.js';
import { EventRecorder } from './events/recorder.js';
import { Lifecycle, StartAborted } from './lifecycle.js';
import { Orchestrator } from './orchestrator/orchestrator.js';
import { ensureApiCert } from './pki/api-cert.js';
import { ensureClusterPki } from './pki/setup.js';
import { Scheduler } from './scheduler/scheduler.js';
import { createSharedInformers, stopSharedInformers } from './store/shared-informers.js';
import { Store } from './store/store.js';
import { clientVersion } from '../common/version.js';
import { errorMessage } from '../common/errors.js';
import { RESTART_RECONNECT_ALLOWANCE_MS } from './dispatcher/dispatcher.js';
import { Leadership } from './leader/leadership.js';
import { NodeLiveness } from './leader/node-liveness.js';
import { ServerLease } from './leader/server-lease.js';
import { ServerRegistration } from './leader/servers.js';
import { SessionPublisher } from './leader/sessions.js';
import { registerClusterMetrics } from './metrics/cluster.js';
import { registry } from './metrics/instruments.js';
import { ServerDirectory } from './leader/server-directory.js';
import { EtcdHealth } from './leader/etcd-health.js';
import { NodeSubnets } from './dispatcher/node-network.js';
import { loadRestoredKeys, openRestore, writeRestoredFiles, type RestoreSource } from './backup/restore.js';
import { BackupSchedule } from './backup/schedule.js';
import { parsePassphrase, type BackupContent } from '../common/backup.js';

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
  /** `HOST:PORT` the embedded etcd member listens on for the other servers' members (TLS). */
  etcdPeerAddr?: string;
  /** Block the docker nodes' container subnets come from (docs/networking.md); none: no cluster network. */
  nodeSubnets?: string;
  /** Block of the services' virtual addresses (needs nodeSubnets); none: services have no name. */
  serviceAddresses?: string;
  /** Bring a cluster back from a backup into this (empty) data dir and etcd (docs/operations.md). */
  restore?: RestoreSource;
  /** Write a sealed backup to `dir` every `everyMs`, keeping the newest `keep`. */
  backupSchedule?: { everyMs: number; dir: string; keep: number; passphraseFile: string };
}

/** How long a joined server waits for its etcd member to be promoted to a voting member. */
export const PROMOTION_TIMEOUT_MS = 120_000;

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
  /** Removes this server's etcd member from the cluster, then stops (`berth server leave`). */
  leave(): Promise<void>;
}

export async function startServer(opts: ServerOptions, log: Logger, life = new Lifecycle(log)): Promise<RunningServer> {
  const check = () => {
    if (life.isStopping) throw new StartAborted();
  };
  // Set by leave(): the stop removes this server's etcd member (before closing the store) and,
  // once etcd has stopped, its data (a removed member cannot start again).
  let leaving = false;
  let memberRemoved = false;
  // A restore that fails after writing removes what it wrote (the data dir was empty before).
  let restoring = false;
  try {
    const name = opts.name ?? os.hostname();
    let restored: BackupContent | undefined;
    if (opts.restore) {
      // Read and authenticated in full, the data dir checked empty, before anything is written.
      restored = await openRestore(opts.restore, opts.dataDir);
      restoring = true;
      await writeRestoredFiles(restored, opts.dataDir);
      log.info({ from: opts.restore.file, createdAt: restored.createdAt, revision: restored.revision, keys: restored.keys.length }, 'restoring the cluster from a backup');
    }
    const backupPassphrase = opts.backupSchedule
      ? parsePassphrase(await readFile(opts.backupSchedule.passphraseFile, 'utf8'), `--passphrase-file ${opts.backupSchedule.passphraseFile}`)
      : undefined;
    const pki = await ensureClusterPki(opts, log);
    let endpoints = opts.etcd;
    let etcd: EmbeddedEtcd | undefined;
    let kept: Awaited<ReturnType<typeof readMemberFile>>;
    if (!endpoints.length) {
      kept = await readMemberFile(opts.dataDir);
      const address = await memberAddress(opts, kept);
      const member = await memberOptions(opts.dataDir, name, address, pki.ca, kept?.join, log);
      life.onStop('etcd-data', async () => {
        // Only once the member is gone: a member still in the cluster needs its data to come back.
        if (!memberRemoved) return;
        await rm(path.join(opts.dataDir, 'etcd'), { recursive: true, force: true });
        await rm(path.join(opts.dataDir, MEMBER_FILE), { force: true });
        log.info('left the cluster: removed this server\'s etcd data');
      });
      const started = await EmbeddedEtcd.start({ dataDir: opts.dataDir, logger: log, member });
      etcd = started;
      life.onStop('embedded-etcd', () => started.stop());
      endpoints = started.endpoints;
      // The port it bound (a port chosen at the first start may have had to change).
      const peerAddress = new URL(started.peerUrl!).host;
      if (kept?.peerAddress !== peerAddress) await writeMemberFile(opts.dataDir, { ...kept, peerAddress });
      void started.exitedPromise.then(() => {
        if (!life.isStopping) {
          log.error('embedded etcd exited unexpectedly; shutting down');
          void life.stop().then(() => process.exit(1));
        }
      });
    }
    check();
    const etcdPrefix = kept?.join?.etcdPrefix ?? opts.etcdPrefix;
    const store = new Store({ endpoints, prefix: etcdPrefix, logger: log });
    life.onStop('store', () => store.close());
    if (etcd) {
      if (kept?.join) {
        log.info('waiting for this server\'s etcd member to be promoted to a voting member');
        await waitVoting(endpoints, log, PROMOTION_TIMEOUT_MS);
      }
      await advertisePeerUrl(store, etcd.peerUrl!, log);
      life.onStop('etcd-member', async () => {
        if (!leaving) return;
        const id = await store.localMemberId();
        await store.removeMember(id);
        memberRemoved = true;
        log.info({ member: id }, 'removed this server\'s etcd member from the cluster');
      });
    }
    if (restored) {
      const count = await loadRestoredKeys(store, restored);
      restoring = false;
      restored = undefined;
      log.info({ keys: count }, 'restored the cluster\'s keys');
    }
    const apiTls = await ensureApiCert(opts, pki.ca, log);
    const tokens = await ClusterTokens.ensure(store, opts.dataDir, log, pki.ca.digest);
    const secretBox = SecretBox.ensure(opts.dataDir);
    const keyProblem = await checkClusterKey(store, secretBox);
    if (keyProblem) log.error(keyProblem);
    const secrets = keyProblem ? undefined : new Secrets(store, secretBox);
    const stopForLeave = async () => {
      leaving = true;
      await life.stop();
    };
    check();

    const events = new EventRecorder({ store, logger: log });
    life.onStop('events', () => events.stop());
    // One watch per prefix for every component below (each decoding every task change was much
    // of the CPU and garbage); stopped after all of them (the Lifecycle stops in reverse order).
    const informers = createSharedInformers(store, log);
    life.onStop('informers', () => stopSharedInformers(informers));
    // This server among those sharing the etcd: its lease (its registration, its agents'
    // sessions and, while it leads, the leader key), the sessions it holds, and the election.
    const lease = new ServerLease(store, opts.leaderLeaseSeconds ?? DEFAULT_LEADER_LEASE_SECONDS, log);
    await lease.start();
    life.onStop('server-lease', () => lease.stop());
    const sessions = new SessionPublisher(store, lease, name, log);
    await sessions.start();
    life.onStop('sessions', () => sessions.stop());
    // Every registered server: its agent address for the agents, its API URL for berth.yaml.
    const directory = new ServerDirectory(store, log);
    await directory.start();
    life.onStop('server-directory', () => directory.stop());
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
      ...(secrets ? { secrets, registries: new Registries(store, secretBox) } : {}),
      servers: directory,
      serverName: name,
      serverJoin: {
        etcdPrefix,
        embeddedEtcd: !!etcd,
        verifyManagerToken: (t) => tokens.verifyManager(t),
        secrets: async () => ({
          caCertPem: pki.ca.certPem,
          caKeyPem: await readFile(path.join(opts.dataDir, CA_KEY_FILE), 'utf8'),
          ...(await readFile(path.join(opts.dataDir, SECRETS_KEY_FILE), 'utf8').then(
            (secretsKey) => ({ secretsKey }),
            () => ({}),
          )),
          ...(tokens.adminToken ? { adminToken: tokens.adminToken } : {}),
          // Read now: the API may have rotated it.
          ...(await readJoinTokenIfCurrent()),
        }),
      },
      ...(opts.nodeSubnets ? { nodeSubnets: new NodeSubnets(opts.nodeSubnets) } : {}),
      ...(opts.serviceAddresses ? { serviceAddresses: opts.serviceAddresses } : {}),
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
        // With embedded etcds, the leader promotes the members of servers that joined.
        return [scheduler, orchestrator, liveness, ...(etcd ? [new LearnerPromoter(store, log)] : [])];
      },
    });
    life.onStop('leadership', () => leadership.stop());
    await leadership.start();
    check();

    // What Prometheus scrapes (through the API thread's `GET /metrics`): this thread's instruments
    // and the cluster's state read from the informers at scrape time.
    registerClusterMetrics(registry, {
      ...informers,
      isLeader: () => leadership.isLeader,
      lastHeartbeats: () => dispatcher.lastHeartbeats(),
      certificates: { ca: pki.ca.certPem, dispatcher: pki.server.certPem, api: apiTls.certPem },
    });
    // The API on its own thread: its calls do not queue behind the controllers' work.
    const api = await startApiThread({
      endpoints,
      etcdPrefix,
      listen: opts.listen,
      serverName: name,
      embeddedEtcd: !!etcd,
      onLeave: () => void stopForLeave(),
      adminTokenSha256: tokens.adminTokenSha256,
      joinTokenRotation: { dataDir: opts.dataDir, caDigest: pki.ca.digest },
      streams: dispatcher,
      informers,
      tls: apiTls,
      ...(secrets ? { secretsKeyFile: path.join(opts.dataDir, SECRETS_KEY_FILE) } : {}),
      backupDataDir: opts.dataDir,
      metrics: registry,
      usage: dispatcher.usage,
      caPem: pki.ca.certPem,
      logger: log,
    });
    life.onStop('api', () => api.stop());
    void api.crashed.then(() => {
      if (life.isStopping) return;
      log.error('the API thread ended unexpectedly; shutting down');
      void life.stop().then(() => process.exit(1));
    });
    const apiUrl = api.url;
    const configFile = await tokens.writeClientConfig(opts.dataDir, apiUrl, pki.ca.certPem, directory.apiUrls());
    const etcdHealth = new EtcdHealth({ endpoints, storeAnswering: () => store.answering, logger: log });
    const etcdFirst = await etcdHealth.check();
    const agentAddress = opts.advertiseAddr ?? advertised(opts.agentListen, dispatcher.port);
    // Agents are told this address (and fail over to it): the certificate must name it.
    const unnamed = hostNotNamed(pki.server.certPem, agentAddress);
    if (unnamed) log.error({ agentAddress }, `this server's certificate does not name ${unnamed}, the agent address it registers: agents cannot use it (start the server with --tls-san ${unnamed} or --advertise-addr)`);
    const registration = new ServerRegistration(store, lease, {
      name,
      apiUrl,
      agentAddress,
      serverVersion: clientVersion(),
      startedAt: new Date().toISOString(),
      ...etcdFirst,
    }, log);
    await registration.start();
    life.onStop('registration', () => registration.stop());
    await etcdHealth.start((report) => void registration.update(report), etcdFirst);
    life.onStop('etcd-health', () => etcdHealth.stop());
    // berth.yaml lists every server's API URL (this one first), kept as servers come and go.
    // One write at a time, the latest list last.
    let writing = Promise.resolve();
    const offApiUrls = directory.onApiUrls((urls) => {
      writing = writing
        .then(() => tokens.writeClientConfig(opts.dataDir, apiUrl, pki.ca.certPem, urls))
        .then(() => undefined, (err: unknown) => log.warn({ err: errorMessage(err) }, 'could not write berth.yaml'));
    });
    life.onStop('client-config', () => offApiUrls());
    if (opts.backupSchedule && backupPassphrase) {
      const schedule = new BackupSchedule({ store, dataDir: opts.dataDir, passphrase: backupPassphrase, ...opts.backupSchedule, logger: log.child({ component: 'backup' }) });
      schedule.start();
      life.onStop('backup-schedule', () => schedule.stop());
      log.info({ every: `${opts.backupSchedule.everyMs / 1000}s`, dir: opts.backupSchedule.dir, keep: opts.backupSchedule.keep }, 'scheduled backups');
    }
    log.info({ apiUrl, agentPort: dispatcher.port, configFile, name, leader: leadership.isLeader }, 'control plane ready');
    check();
    return { apiUrl, agentPort: dispatcher.port, joinTokenFile: path.join(opts.dataDir, JOIN_TOKEN_FILE), stop: () => life.stop(), leave: stopForLeave };

    async function readJoinTokenIfCurrent(): Promise<{ joinToken?: string }> {
      const join = await readSecret(path.join(opts.dataDir, JOIN_TOKEN_FILE));
      return join && (await tokens.verifyJoin(join)) ? { joinToken: join } : {};
    }
  } catch (err) {
    await life.stop();
    if (restoring) {
      await rm(opts.dataDir, { recursive: true, force: true }).catch(() => undefined);
      log.warn({ dataDir: opts.dataDir }, 'restore failed: removed what it had written to the data dir');
    }
    throw err;
  }
}

/** The host of `address` (HOST:PORT) if the certificate does not name it, else undefined. */
function hostNotNamed(certPem: string, address: string): string | undefined {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (!host) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    return (isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) ? undefined : host;
  } catch {
    return undefined;
  }
}

/** The agent address to show: the listen address, with a wildcard host replaced by the host name. */
function advertised(listen: string, port: number): string {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return `${host === '0.0.0.0' || host === '::' || host === '[::]' || host === '' ? os.hostname() : host}:${port}`;
}
