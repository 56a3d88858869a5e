// The REST API (fastify) under /v1/. Owns: HTTP, auth, request validation, the OpenAPI
// document. Must not: decide placement or reconcile anything (controllers do, from etcd).
import { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterTokens } from '../auth/tokens.js';
import type { Store } from '../store/store.js';
import { makeErrorHandler } from './errors.js';
import { collectOpenApi } from './openapi.js';
import { registerSchemas, serviceRoutes } from './routes/services.js';
import { taskAndNodeRoutes } from './routes/tasks-nodes.js';
import { endpointRoutes } from './routes/endpoints.js';
import { nodeAdminRoutes } from './routes/node-admin.js';
import { eventRoutes } from './routes/events.js';
import { rolloutRoutes } from './routes/rollout.js';
import { joinTokenRoutes, type JoinTokenRotation } from './routes/join-token.js';
import { attachWatch } from './watch.js';
import { execSocket } from './exec-socket.js';
import { logsAndExecRoutes } from './routes/logs-exec.js';
import { serverRoutes, type ThisServer } from './routes/servers.js';
import type { TaskStreams } from '../dispatcher/task-streams.js';
import type { EventRecorder } from '../events/recorder.js';
import type { WatchCache } from './watch-cache.js';
import { installAccess, loggableUrl, type Access } from './access.js';
import { installAuditHook } from './audit-hook.js';
import { ApiTokens } from '../auth/api-tokens.js';
import type { AuditRecorder } from '../audit/recorder.js';
import { tokenRoutes } from './routes/tokens.js';
import { auditRoutes } from './routes/audit.js';
import { configRoutes, registryRoutes, secretRoutes } from './routes/secrets.js';
import { networkRoutes } from './routes/networks.js';
import { volumeRoutes } from './routes/volumes.js';
import type { Secrets } from '../secrets/secrets.js';
import type { Registries } from '../secrets/registries.js';
import { Configs } from '../secrets/configs.js';
import { metricsRoutes, type MetricsSource } from './routes/metrics.js';
import { usageRoutes, type UsageRouteOptions } from './routes/usage.js';
import { apiRequestSeconds } from '../metrics/instruments.js';
import { whoamiRoutes } from './routes/whoami.js';
import { uiRoutes } from './routes/ui.js';
import { backupRoutes, type ClusterBackup } from './routes/backup.js';

export interface ApiServerOptions {
  store: Store;
  tokens: Pick<ClusterTokens, 'verifyAdmin'>;
  logger: Logger;
  /** Where to record the user's changes to services. */
  events?: EventRecorder;
  /** Logs and exec through the agents' sessions (the dispatcher); without it those routes are absent. */
  streams?: TaskStreams;
  /**
   * The API's caches: its informers and the task counts relayed from the main thread
   * (thread-main.ts builds it; tests build it the same way). Stopped when the API closes.
   */
  cache: WatchCache;
  /** Where mutating calls are recorded (the server's); without it none are. */
  audit?: AuditRecorder;
  /** Replaces the join token (`POST /v1/tokens/join/rotate`); without it the route is absent. */
  joinTokens?: JoinTokenRotation;
  /** The API's certificate and key (PEM): with them it serves HTTPS only (the server always passes them). */
  tls?: { certPem: string; keyPem: string };
  /** Secrets sealed with the server's key; without it the secrets routes are absent. */
  secrets?: Secrets;
  /** Registry credentials, sealed with the same key; without it the registries routes are absent. */
  registries?: Registries;
  /** `GET /metrics`'s body (the server's registries); without it the route is absent. */
  metrics?: MetricsSource;
  /** The server this API runs in, for `POST /v1/servers/leave` and `DELETE /v1/servers/:name`; without it those routes are absent. */
  thisServer?: ThisServer;
  /** The usage the dispatcher holds (main thread), and the cluster CA to ask the other servers with; without it the usage routes are absent. */
  usage?: { local: UsageRouteOptions['local']; caPem?: string };
  /** Seals a backup of the cluster (`POST /v1/cluster/backup`); without it the route is absent. */
  backup?: ClusterBackup;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The registered routes and their permissions, and the watch's check (access.ts). */
    access: Access;
  }
}

export function buildApi(opts: ApiServerOptions): FastifyInstance {
  const log = opts.logger.child({ component: 'api' });
  const app = (opts.tls
    ? Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024, https: { cert: opts.tls.certPem, key: opts.tls.keyPem } })
    : Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 })) as unknown as FastifyInstance;
  const openapi = collectOpenApi(app);
  registerSchemas(app);
  app.setErrorHandler(makeErrorHandler(log));

  const apiTokens = new ApiTokens({ store: opts.store, logger: log, verifyAdmin: (token) => opts.tokens.verifyAdmin(token) });
  void apiTokens.start().catch((err: Error) => log.warn({ err: err.message }, 'API tokens not loaded yet'));
  app.addHook('onClose', () => apiTokens.stop());
  if (opts.audit) installAuditHook(app, { store: opts.store, recorder: opts.audit });
  app.decorate('access', installAccess(app, { tokens: apiTokens, logger: log }));
  // How long the server held the call (from its first byte read to the reply), for clients that
  // measure where their time went (the scale benchmark does).
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(1)}`);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, url: loggableUrl(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    // By route pattern (not URL: names and ids would make a series per object); unknown paths as one.
    apiRequestSeconds.observe({ route: req.routeOptions.url ?? 'unknown', method: req.method, code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', { config: { permission: 'public' }, schema: { summary: 'Liveness; needs no token', tags: ['health'] } }, () => Promise.resolve({ status: 'ok' }));
  app.get('/v1/openapi.json', { config: { permission: 'meta:read' }, schema: { summary: 'This document', tags: ['meta'] } }, () => Promise.resolve(openapi()));
  const reads = opts.cache.reads;
  serviceRoutes(app, opts.store, reads, opts.events);
  taskAndNodeRoutes(app, opts.store, reads);
  endpointRoutes(app, opts.store, reads);
  nodeAdminRoutes(app, opts.store);
  eventRoutes(app, opts.store, reads);
  rolloutRoutes(app, opts.store, reads, opts.events);
  serverRoutes(app, opts.store, opts.thisServer);
  if (opts.streams) logsAndExecRoutes(app, opts.store, opts.streams, log);
  tokenRoutes(app, apiTokens);
  if (opts.joinTokens) joinTokenRoutes(app, opts.joinTokens, log);
  auditRoutes(app, opts.store, log);
  if (opts.secrets) secretRoutes(app, opts.secrets);
  if (opts.registries) registryRoutes(app, opts.registries);
  configRoutes(app, new Configs(opts.store));
  volumeRoutes(app, opts.store);
  networkRoutes(app, opts.store);
  if (opts.metrics) metricsRoutes(app, opts.metrics);
  if (opts.usage) {
    usageRoutes(app, { store: opts.store, local: opts.usage.local, serverName: opts.thisServer?.name ?? '', logger: log, ...(opts.usage.caPem ? { caPem: opts.usage.caPem } : {}) });
  }
  whoamiRoutes(app);
  uiRoutes(app);
  if (opts.backup) backupRoutes(app, opts.backup, log);
  const exec = opts.streams ? execSocket({ store: opts.store, streams: opts.streams, access: app.access, logger: log, ...(opts.audit ? { audit: opts.audit } : {}) }) : undefined;
  if (exec) app.addHook('preClose', (done) => {
    exec.close();
    done();
  });
  attachWatch(app, {
    ...opts,
    authorize: (token, kind) => app.access.authorizeWatch(token, kind),
    ...(exec ? { otherUpgrades: (req, socket, head, url) => exec.handle(req, socket, head, url) } : {}),
  });
  return app;
}

/** Starts listening on `ADDR:PORT`; returns the URL clients use. */
export async function listenApi(app: FastifyInstance, listen: string): Promise<string> {
  const { host, port } = parseHostPort(listen, 7070);
  await app.listen({ host, port });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const scheme = app.server instanceof TlsServer ? 'https' : 'http';
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${bound}`;
}

export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid address "${text}": expected ADDR:PORT`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: m[3] !== undefined ? Number(m[3]) : defaultPort };
}
