// GET /v1/watch?kind=services|tasks|nodes|events[&fromVersion=N]: a WebSocket of changes, on the
// API's own HTTP server (its `upgrade` event), behind the same bearer token as the REST routes:
// the `Authorization` header; for browsers, which cannot set headers on a WebSocket, the
// subprotocols `berth.watch` and `berth.bearer.<token>` (the server answers `berth.watch`, never
// the token); or `?token=` (kept for older clients; it puts the token in the URL). The token's
// role needs the read permission of the kind (access.ts).
// Each message is one JSON WatchMessage (common/watch.ts). Connections and the shared watch cache
// end when the API closes.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { closeCodeOf, isWatchKind, WatchErrorCode, type WatchKind, type WatchMessage } from '../../common/watch.js';
import type { ClusterTokens } from '../auth/tokens.js';
import type { WatchCache } from './watch-cache.js';
import { VersionGoneError } from './watch-history.js';
import type { Refusal } from './access.js';
import { errorMessage } from '../../common/errors.js';

export const WATCH_PATH = '/v1/watch';
/** The subprotocol the server answers to a browser that sends its token as `berth.bearer.<token>`. */
export const WATCH_SUBPROTOCOL = 'berth.watch';
export const BEARER_SUBPROTOCOL_PREFIX = 'berth.bearer.';
/** A peer that does not answer a ping within this long is dropped. */
const PING_MS = 30_000;

export interface WatchOptions {
  tokens: Pick<ClusterTokens, 'verifyAdmin'>;
  logger: Logger;
  /** The API's watch cache; stopped here when the API closes. */
  cache: WatchCache;
  /** The token's check for a watch of `kind` (access.ts); without it, only the admin token may watch. */
  authorize?: (token: string | undefined, kind: WatchKind | undefined) => Promise<Refusal | undefined>;
  /** Other WebSocket endpoints (interactive exec): one that takes an upgrade returns true. */
  otherUpgrades?: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => boolean;
}

interface WatchRequest {
  kind: WatchKind;
  fromVersion?: number;
}

/** Serves the watch endpoint on `app`'s server; stops with `app.close()`. */
export function attachWatch(app: FastifyInstance, opts: WatchOptions): void {
  const log = opts.logger.child({ component: 'watch' });
  const cache = opts.cache;
  // The token's subprotocol is never echoed back: only `berth.watch`, when offered.
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has(WATCH_SUBPROTOCOL) ? WATCH_SUBPROTOCOL : false) });
  const sockets = new Set<WebSocket>();
  const alive = new WeakSet<WebSocket>();
  const authorize =
    opts.authorize ??
    ((token: string | undefined): Promise<Refusal | undefined> =>
      Promise.resolve(opts.tokens.verifyAdmin(token) ? undefined : { status: 401, error: 'Unauthorized', message: token ? 'invalid token' : 'missing bearer token' }));

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://berth');
    if (url.pathname !== WATCH_PATH && opts.otherUpgrades?.(req, socket, head, url)) return;
    if (url.pathname !== WATCH_PATH) return refuse(socket, 404, 'NotFound', `no WebSocket endpoint at ${url.pathname}`);
    const token = watchTokenOf(req, url);
    const parsed = parseWatchRequest(url.searchParams);
    void authorize(token, typeof parsed === 'string' ? undefined : parsed.kind).then((refusal) => {
      if (refusal) {
        log.warn({ ip: req.socket.remoteAddress, status: refusal.status, reason: refusal.message }, 'watch refused');
        return refuse(socket, refusal.status, refusal.error, refusal.message);
      }
      if (typeof parsed === 'string') return refuse(socket, 400, 'BadRequest', parsed);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        alive.add(ws);
        ws.on('pong', () => alive.add(ws));
        void serve(ws, parsed);
      });
    }, (err: unknown) => refuse(socket, 503, 'Unavailable', errorMessage(err)));
  });

  const serve = async (ws: WebSocket, req: WatchRequest): Promise<void> => {
    let unsubscribe: (() => void) | undefined;
    ws.on('close', () => {
      sockets.delete(ws);
      unsubscribe?.();
    });
    ws.on('error', (err) => log.debug({ err: err.message }, 'watch socket error'));
    const send = (m: WatchMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    try {
      const off = await cache.subscribe(req.kind, req.fromVersion, send);
      if (ws.readyState !== ws.OPEN) off();
      else unsubscribe = off;
      log.debug({ kind: req.kind, fromVersion: req.fromVersion }, 'watch opened');
    } catch (err) {
      const code = err instanceof VersionGoneError ? WatchErrorCode.Gone : WatchErrorCode.Unavailable;
      send({ type: 'ERROR', code, message: errorMessage(err) });
      ws.close(closeCodeOf(code), code === WatchErrorCode.Gone ? 'Gone' : 'Unavailable');
    }
  };

  const pinger = setInterval(() => {
    for (const ws of sockets) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, PING_MS);
  pinger.unref();

  // Before the HTTP server closes: it would wait for the upgraded sockets forever.
  app.addHook('preClose', async () => {
    clearInterval(pinger);
    for (const ws of sockets) ws.close(1001, 'server stopping');
    for (const ws of sockets) ws.terminate();
    sockets.clear();
    await cache.stop();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
}

/** The bearer token of a watch request: header, then subprotocol, then `?token=`. */
export function watchTokenOf(req: Pick<IncomingMessage, 'headers'>, url: URL): string | undefined {
  const header = req.headers.authorization ?? '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const bearer = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (bearer) return bearer.slice(BEARER_SUBPROTOCOL_PREFIX.length) || undefined;
  return url.searchParams.get('token') ?? undefined;
}

export function parseWatchRequest(q: URLSearchParams): WatchRequest | string {
  const kind = q.get('kind') ?? '';
  if (!isWatchKind(kind)) return `kind must be one of services, tasks, nodes, events (got "${kind}")`;
  const from = q.get('fromVersion');
  if (from === null || from === '') return { kind };
  if (!/^\d+$/.test(from)) return `fromVersion must be a whole number (got "${from}")`;
  return { kind, fromVersion: Number(from) };
}

/** Answers a WebSocket upgrade with an HTTP error and the API's error body. */
export function refuseUpgrade(socket: Duplex, status: number, error: string, message: string): void {
  refuse(socket, status, error, message);
}

function refuse(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
