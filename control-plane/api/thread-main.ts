// The API thread (see thread.ts): its own store client, event recorder and watch cache, and the
// fastify server. Ends when the main thread posts 'stop', after closing each of them.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../common/log.js';
import { matches, rotateToken } from '../auth/tokens.js';
import { EventRecorder } from '../events/recorder.js';
import { AuditRecorder } from '../audit/recorder.js';
import { createSharedInformers, stopSharedInformers } from '../store/shared-informers.js';
import { Store } from '../store/store.js';
import { buildApi, listenApi } from './server.js';
import { BridgedStreams } from './stream-bridge.js';
import { WatchCache } from './watch-cache.js';
import { RelayedCounts } from './task-counts.js';
import { registry } from '../metrics/instruments.js';
import { MetricsRelay } from '../metrics/relay.js';
import { UsageRelay } from './usage-relay.js';
import type { ApiThreadData, ApiThreadMessage } from './thread.js';
import { SecretBox } from '../secrets/secret-box.js';
import { Secrets } from '../secrets/secrets.js';
import { Registries } from '../secrets/registries.js';
import { writeBackup } from '../backup/snapshot.js';

const data = workerData as ApiThreadData;
const port = parentPort!;
const log = createLogger('berth-server', data.logLevel);
const store = new Store({ endpoints: data.endpoints, prefix: data.etcdPrefix, logger: log });
const events = new EventRecorder({ store, logger: log });
const audit = new AuditRecorder({ store, logger: log });
const informers = createSharedInformers(store, log);
const streams = data.streamsPort ? new BridgedStreams(data.streamsPort) : undefined;
const cache = new WatchCache({ store, logger: log, informers, counts: new RelayedCounts(data.countsPort) });
const metrics = data.metricsPort ? new MetricsRelay(data.metricsPort, registry) : undefined;
const sealed = (box: SecretBox) => ({ secrets: new Secrets(store, box), registries: new Registries(store, box) });
const usage = data.usagePort ? new UsageRelay(data.usagePort) : undefined;
const api = buildApi({
  store,
  tokens: { verifyAdmin: (token) => matches(token, data.adminTokenSha256) },
  logger: log,
  events,
  cache,
  audit,
  tls: data.tls,
  ...(data.secretsKeyFile ? sealed(SecretBox.load(data.secretsKeyFile)) : {}),
  ...(data.serverName
    ? { thisServer: { name: data.serverName, embeddedEtcd: !!data.embeddedEtcd, leave: () => port.postMessage({ type: 'leave' } satisfies ApiThreadMessage) } }
    : {}),
  ...(streams ? { streams } : {}),
  ...(data.backupDataDir ? { backup: { write: (passphrase: string) => writeBackup(store, data.backupDataDir!, passphrase) } } : {}),
  ...(metrics ? { metrics } : {}),
  ...(usage ? { usage: { local: usage, ...(data.caPem ? { caPem: data.caPem } : {}) } } : {}),
  ...(data.joinTokenRotation
    ? {
        joinTokens: {
          rotate: () => rotateToken(store, data.joinTokenRotation!.dataDir, data.joinTokenRotation!.caDigest, 'join'),
          rotateManager: () => rotateToken(store, data.joinTokenRotation!.dataDir, data.joinTokenRotation!.caDigest, 'manager'),
        },
      }
    : {}),
});

async function close(): Promise<void> {
  await api.close().catch((err: Error) => log.error({ component: 'api', err: err.message }, 'API close failed'));
  streams?.close();
  data.countsPort.close();
  metrics?.close();
  usage?.close();
  await events.stop().catch(() => undefined);
  await audit.stop().catch(() => undefined);
  await stopSharedInformers(informers).catch(() => undefined);
  store.close();
}

port.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  void close().finally(() => process.exit(0));
});

// Ready once the caches the API reads are filled, so the first calls do not wait for them.
Promise.all([listenApi(api, data.listen), cache.warm()]).then(
  ([url]) => port.postMessage({ type: 'ready', url } satisfies ApiThreadMessage),
  (err: NodeJS.ErrnoException) => {
    port.postMessage({ type: 'failed', message: err.message, ...(err.code ? { code: err.code } : {}) } satisfies ApiThreadMessage);
    void close().finally(() => process.exit(1));
  },
);
