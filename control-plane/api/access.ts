// Who may call what: every request but public ones (health) carries a bearer token, which
// names a caller (api-tokens.ts: token name and role); the route declares the permission it
// needs in its config (`config: { permission: 'services:write' }`), and the role must hold it
// (auth/permissions.ts). Fails closed: a route that declares no permission is refused to every
// role. Refusals are 401 (no valid token: missing, unknown, revoked, expired) or 403 naming the
// role and the permission it lacks; both answer before the body is read, so nothing is written.
// The watch WebSocket (watch.ts) asks the same questions through authorizeWatch.
//
// Owns: the onRequest hook that authenticates and authorizes, the table of registered routes
// and what each declares. Must not: log or answer any token (only token names).
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import type { WatchKind } from '../../common/watch.js';
import type { ApiTokens, Caller } from '../auth/api-tokens.js';
import { can, lacksMessage, PUBLIC, watchPermission, type Permission, type RoutePermission } from '../auth/permissions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a caller's role needs for this route, or `public` (no token). */
    permission?: RoutePermission;
  }
  interface FastifyRequest {
    /** Who made the call, once authenticated. */
    caller: Caller | null;
    /** The caller's role lacked the route's permission. */
    refused: boolean;
  }
}

/** A route as registered, with the permission it declares (none: refused to all). */
export interface RouteRecord {
  method: string;
  url: string;
  permission?: RoutePermission;
}

/** Why a call is refused: an HTTP status and the API's error body. */
export interface Refusal {
  status: 401 | 403;
  error: 'Unauthorized' | 'Forbidden';
  message: string;
}

export interface Access {
  /** Every route registered on the app (HEAD twins of GET routes left out). */
  routes(): readonly RouteRecord[];
  /** Whether the bearer token may watch `kind` (without a kind: whether it is valid): undefined, or why not. */
  authorizeWatch(token: string | undefined, kind: WatchKind | undefined): Promise<Refusal | undefined>;
  /** The caller a bearer token names if its role has `permission` (a WebSocket endpoint's check), or why not. */
  authorize(token: string | undefined, permission: Permission): Promise<{ caller: Caller } | { refusal: Refusal; caller?: Caller }>;
}

export interface AccessOptions {
  tokens: Pick<ApiTokens, 'authenticate' | 'used'>;
  logger: Logger;
}

/** Installs the hook; call before registering routes (their permissions are collected as they come). */
export function installAccess(app: FastifyInstance, opts: AccessOptions): Access {
  const log = opts.logger.child({ component: 'access' });
  const routes: RouteRecord[] = [];
  app.decorateRequest('caller', null);
  app.decorateRequest('refused', false);
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const permission = route.config?.permission;
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, ...(permission ? { permission } : {}) });
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const permission = req.routeOptions.config?.permission;
    if (permission === PUBLIC) return;
    const who = await opts.tokens.authenticate(bearerOf(req));
    if (!('role' in who)) {
      log.warn({ method: req.method, path: pathOf(req), ip: req.ip, reason: who.message }, 'request without a valid token refused');
      return refuse(reply, { status: 401, error: 'Unauthorized', message: who.message });
    }
    req.caller = who;
    if (req.routeOptions.url === undefined) return; // no such route: answered 404
    const route = `${req.method} ${req.routeOptions.url}`;
    if (!permission) {
      log.error({ route }, 'route declares no permission: refused');
      return refuse(reply, { status: 403, error: 'Forbidden', message: `route ${route} declares no permission; it is refused to every role` });
    }
    if (!can(who.role, permission)) {
      req.refused = true;
      log.info({ token: who.token, role: who.role, route, permission }, 'call refused: role lacks permission');
      return refuse(reply, { status: 403, error: 'Forbidden', message: lacksMessage(who.role, permission) });
    }
    opts.tokens.used(who);
  });

  return {
    routes: () => routes,
    async authorizeWatch(token, kind) {
      const who = await opts.tokens.authenticate(token);
      if (!('role' in who)) return { status: 401, error: 'Unauthorized', message: who.message };
      if (kind === undefined) return undefined;
      const permission = watchPermission(kind);
      if (!can(who.role, permission)) return { status: 403, error: 'Forbidden', message: lacksMessage(who.role, permission) };
      opts.tokens.used(who);
      return undefined;
    },
    async authorize(token, permission) {
      const who = await opts.tokens.authenticate(token);
      if (!('role' in who)) return { refusal: { status: 401, error: 'Unauthorized', message: who.message } };
      if (!can(who.role, permission)) {
        log.info({ token: who.token, role: who.role, permission }, 'call refused: role lacks permission');
        return { refusal: { status: 403, error: 'Forbidden', message: lacksMessage(who.role, permission) }, caller: who };
      }
      opts.tokens.used(who);
      return { caller: who };
    },
  };
}

function refuse(reply: FastifyReply, r: Refusal): FastifyReply {
  return reply.code(r.status).send({ error: r.error, message: r.message });
}

function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7).trim() || undefined : undefined;
}

/** A request URL fit for a log line: a `token` query parameter (the watch's) is masked. */
export function loggableUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1<redacted>');
}

/** The path without the query string (which may carry anything, a token among them). */
function pathOf(req: FastifyRequest): string {
  return req.url.split('?')[0]!;
}
