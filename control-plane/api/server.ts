// The REST API (fastify) under /v1/. Owns: HTTP, auth, request validation, the OpenAPI
// document. Must not: decide placement or reconcile anything (controllers do, from etcd).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ClusterTokens } from '../auth/tokens.js';
import type { Store } from '../store/store.js';
import { makeErrorHandler } from './errors.js';
import { collectOpenApi } from './openapi.js';
import { registerSchemas, serviceRoutes } from './routes/services.js';
import { taskAndNodeRoutes } from './routes/tasks-nodes.js';
import { nodeAdminRoutes } from './routes/node-admin.js';
import { eventRoutes } from './routes/events.js';
import { rolloutRoutes } from './routes/rollout.js';
import { attachWatch } from './watch.js';
import { logsAndExecRoutes } from './routes/logs-exec.js';
import type { TaskStreams } from '../dispatcher/task-streams.js';
import type { EventRecorder } from '../events/recorder.js';
import type { WatchCache } from './watch-cache.js';

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
}

const PUBLIC_PATHS = new Set(['/healthz']);

export function buildApi(opts: ApiServerOptions): FastifyInstance {
  const log = opts.logger.child({ component: 'api' });
  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  const openapi = collectOpenApi(app);
  registerSchemas(app);
  app.setErrorHandler(makeErrorHandler(log));

  app.addHook('onRequest', async (req, reply) => {
    if (PUBLIC_PATHS.has(req.url.split('?')[0]!)) return;
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!opts.tokens.verifyAdmin(token)) {
      log.warn({ url: req.url, method: req.method, ip: req.ip }, 'request without a valid token refused');
      return reply.code(401).send({ error: 'Unauthorized', message: token ? 'invalid token' : 'missing bearer token' });
    }
  });
  // How long the server held the call (from its first byte read to the reply), for clients that
  // measure where their time went (the scale benchmark does).
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(1)}`);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.get('/healthz', { schema: { summary: 'Liveness; needs no token', tags: ['health'] } }, () => Promise.resolve({ status: 'ok' }));
  app.get('/v1/openapi.json', { schema: { summary: 'This document', tags: ['meta'] } }, () => Promise.resolve(openapi()));
  const reads = opts.cache.reads;
  serviceRoutes(app, opts.store, reads, opts.events);
  taskAndNodeRoutes(app, opts.store, reads);
  nodeAdminRoutes(app, opts.store);
  eventRoutes(app, opts.store, reads);
  rolloutRoutes(app, opts.store, reads, opts.events);
  if (opts.streams) logsAndExecRoutes(app, opts.store, opts.streams, log);
  attachWatch(app, opts);
  return app;
}

/** Starts listening on `ADDR:PORT`; returns the URL clients use. */
export async function listenApi(app: FastifyInstance, listen: string): Promise<string> {
  const { host, port } = parseHostPort(listen, 7070);
  await app.listen({ host, port });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${bound}`;
}

export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid address "${text}": expected ADDR:PORT`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: m[3] !== undefined ? Number(m[3]) : defaultPort };
}
