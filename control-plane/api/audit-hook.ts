// What the API writes to the audit log (control-plane/audit/): one entry per mutating call
// (POST, PUT, PATCH, DELETE; exec is a POST), written when the answer has gone out (a stream's
// when it ends), with the caller's token name and role (access.ts), the route pattern, the
// objects the call named and its status; for apply, the changed field paths, never values.
// Calls refused for lack of permission are recorded with `refused`; calls without a valid token
// with an empty token name.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isDeepStrictEqual } from 'node:util';
import type { Service } from '../../common/types.js';
import type { AuditRecorder } from '../audit/recorder.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes that write services from documents in the body: their entries list changed fields. */
const APPLY_ROUTES = new Set(['POST /v1/apply', 'PUT /v1/services/:name']);
/** Field paths kept per object; more are summarised as one `(+N more)`. */
const MAX_PATHS = 50;
/** The kind an object of a route's first path segment is (`/v1/services/...` -> service). */
const KIND_OF_SEGMENT: Record<string, string> = { services: 'service', tasks: 'task', nodes: 'node', tokens: 'token', secrets: 'secret', configs: 'config', registries: 'registry' };

declare module 'fastify' {
  interface FastifyRequest {
    /** Changed field paths per object, for apply (set before the handler writes). */
    auditChanged: Record<string, string[]> | null;
  }
}

export interface AuditHookOptions {
  store: Store;
  recorder: AuditRecorder;
}

/** Must be installed before access.ts's hook: a refused call never reaches later hooks. */
export function installAuditHook(app: FastifyInstance, opts: AuditHookOptions): void {
  app.decorateRequest('auditChanged', null);
  app.addHook('onRequest', async (req, reply) => {
    if (!MUTATING.has(req.method)) return;
    const time = new Date().toISOString();
    reply.raw.once('close', () => {
      const verb = `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
      opts.recorder.record({
        time,
        token: req.caller?.token ?? '',
        role: req.caller?.role ?? '',
        source: req.ip,
        verb,
        objects: objectsOf(req),
        status: reply.raw.statusCode,
        ...(req.refused ? { refused: true } : {}),
        ...(req.auditChanged ? { changed: req.auditChanged } : {}),
        ...(APPLY_ROUTES.has(verb) && (req.body as { dryRun?: unknown } | undefined)?.dryRun === true ? { dryRun: true } : {}),
      });
    });
  });
  app.addHook('preHandler', async (req) => {
    if (!APPLY_ROUTES.has(`${req.method} ${req.routeOptions.url}`)) return;
    const docs = documentsOf(req);
    if (!docs.length) return;
    const current = await Promise.all(docs.map((d) => opts.store.get<Service>(keys.service(d.metadata.name)).catch(() => undefined)));
    const changed: Record<string, string[]> = {};
    docs.forEach((doc, i) => {
      const cur = current[i];
      const paths = [
        ...changedPaths('spec', cur?.spec, doc.spec),
        ...changedPaths('metadata.labels', cur?.metadata.labels ?? (cur ? {} : undefined), doc.metadata.labels ?? (cur ? {} : undefined)),
      ];
      changed[`service/${doc.metadata.name}`] = paths.length > MAX_PATHS ? [...paths.slice(0, MAX_PATHS), `(+${paths.length - MAX_PATHS} more)`] : paths;
    });
    req.auditChanged = changed;
  });
}

/** The service documents of an apply or PUT body that name a service (others fail validation). */
function documentsOf(req: FastifyRequest): Service[] {
  const body = req.body as { items?: unknown } | Service | undefined;
  const items: unknown[] = body && typeof body === 'object' && 'items' in body && Array.isArray(body.items) ? body.items : body ? [body] : [];
  return items.filter((d): d is Service => typeof (d as Service | undefined)?.metadata?.name === 'string');
}

/** `kind/name` of what the call names: the route's object, or an apply's documents. */
export function objectsOf(req: FastifyRequest): string[] {
  const url = req.routeOptions.url;
  if (!url) return [];
  if (req.method === 'POST' && url === '/v1/apply') return documentsOf(req).map((d) => `service/${d.metadata.name}`);
  const kind = KIND_OF_SEGMENT[url.split('/')[2] ?? ''];
  if (!kind) return [];
  const params = (req.params ?? {}) as Record<string, string>;
  const name = params.name ?? params.ref ?? params.host ?? (req.body as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? [`${kind}/${name}`] : [];
}

/**
 * Paths where `after` differs from `before` (leaves of objects, array elements by index; an array
 * whose length changed is one path). A value absent on one side is a change of its whole subtree.
 */
export function changedPaths(path: string, before: unknown, after: unknown): string[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => changedPaths(`${path}[${i}]`, b, after[i]));
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return names.flatMap((k) => changedPaths(`${path}.${k}`, before[k], after[k]));
  }
  if (before === undefined && isPlainObject(after)) return Object.keys(after).sort().flatMap((k) => changedPaths(`${path}.${k}`, undefined, after[k]));
  return [path];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
