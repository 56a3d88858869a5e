// /v1/apply and /v1/services: the user's desired state.
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../../common/errors.js';
import { serviceSchema } from '../../../common/manifest/schema.js';
import type { Service } from '../../../common/types.js';
import { keys, rolloutKeys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { applyServices } from '../apply.js';
import type { CachedReads } from '../cached-reads.js';
import { BadRequestError, errorBodySchema } from '../errors.js';
import type { EventRecorder } from '../../events/recorder.js';
import { recordApplied, recordDeleted, recordScaled } from '../service-events.js';
import type { UpdateStatus } from '../../../common/rollout.js';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;
const serviceOut = { type: 'object', additionalProperties: true } as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };

export function serviceRoutes(app: FastifyInstance, store: Store, reads: CachedReads, events?: EventRecorder): void {
  app.post<{ Body: { items: unknown[]; dryRun?: boolean } }>(
    '/v1/apply',
    {
      config: { permission: 'services:write' },
      schema: {
        summary: 'Create or update services, all or nothing',
        tags: ['services'],
        body: {
          type: 'object',
          required: ['items'],
          additionalProperties: false,
          properties: { items: { type: 'array', items: { $ref: 'Service#' } }, dryRun: { type: 'boolean' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { kind: { type: 'string' }, name: { type: 'string' }, action: { type: 'string' }, version: { type: 'integer' } },
                },
              },
            },
          },
          ...errors,
        },
      },
      // Validation of the items is ours (validateService), for precise per-item field paths.
      validatorCompiler: () => (body: unknown) => ({ value: body }),
    },
    async (req) => {
      if (!req.body || !Array.isArray(req.body.items)) throw new BadRequestError('body must be { items: [...] }');
      const dryRun = req.body.dryRun ?? false;
      const items = await applyServices(store, req.body.items, { dryRun });
      if (!dryRun) recordApplied(events, items);
      return { items };
    },
  );

  app.put<{ Params: { name: string }; Body: Service }>(
    '/v1/services/:name',
    {
      config: { permission: 'services:write' },
      schema: { summary: 'Create or update one service', tags: ['services'], params: nameParams, body: { $ref: 'Service#' }, response: { 200: serviceOut, ...errors } },
      validatorCompiler: () => (body: unknown) => ({ value: body }),
    },
    async (req) => {
      if (req.body?.metadata?.name !== undefined && req.body.metadata.name !== req.params.name) {
        throw new BadRequestError(`metadata.name "${req.body.metadata.name}" does not match the URL ("${req.params.name}")`);
      }
      recordApplied(events, await applyServices(store, [req.body]));
      return getService(store, reads, req.params.name);
    },
  );

  app.get('/v1/services', { config: { permission: 'services:read' }, schema: { summary: 'List services', tags: ['services'], response: { 200: { type: 'object', properties: { items: { type: 'array', items: serviceOut } } }, 401: errorBodySchema } } }, async () => {
    // Status from the main thread's counts: no read and decode of every task per call.
    const fromCache = async () => {
      const cached = await reads.serviceReads();
      if (!cached) return undefined;
      const sorted = cached.all().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      return { items: await reads.serviceViews(sorted, cached.update) };
    };
    const fromStore = async () => {
      const [services, updates] = await Promise.all([store.list<Service>(keys.services), store.list<UpdateStatus>(rolloutKeys.updates)]);
      const updateOf = new Map(updates.items.map((u) => [u.service, u]));
      const sorted = services.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      return { items: await reads.serviceViews(sorted, (name) => updateOf.get(name)) };
    };
    return (await fromCache()) ?? (await reads.storeOrCache(fromStore, fromCache));
  });

  app.get<{ Params: { name: string } }>('/v1/services/:name', { config: { permission: 'services:read' }, schema: { summary: 'Get a service', tags: ['services'], params: nameParams, response: { 200: serviceOut, ...errors } } }, async (req) =>
    getService(store, reads, req.params.name),
  );

  app.delete<{ Params: { name: string }; Querystring: { version?: number } }>(
    '/v1/services/:name',
    {
      config: { permission: 'services:write' },
      schema: {
        summary: 'Delete a service; its tasks are stopped and removed',
        tags: ['services'],
        params: nameParams,
        querystring: { type: 'object', properties: { version: { type: 'integer' } } },
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, deleted: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req) => {
      const cur = await store.get<Service>(keys.service(req.params.name));
      if (!cur) throw new NotFoundError('service', req.params.name);
      await store.txn([
        { type: 'delete', key: keys.service(req.params.name), version: req.query.version ?? cur.metadata.version },
        { type: 'delete', key: rolloutKeys.update(req.params.name) },
      ]);
      await store.deletePrefix(rolloutKeys.revisions(req.params.name));
      recordDeleted(events, req.params.name);
      return { name: req.params.name, deleted: true };
    },
  );

  app.post<{ Params: { name: string }; Body: { replicas: number } }>(
    '/v1/services/:name/scale',
    {
      config: { permission: 'services:write' },
      schema: {
        summary: 'Set the replica count of a replicated service',
        tags: ['services'],
        params: nameParams,
        body: { type: 'object', required: ['replicas'], additionalProperties: false, properties: { replicas: { type: 'integer', minimum: 0, maximum: 100000 } } },
        response: { 200: serviceOut, ...errors },
      },
    },
    async (req) => {
      const cur = await store.get<Service>(keys.service(req.params.name));
      if (!cur) throw new NotFoundError('service', req.params.name);
      if (cur.spec.mode === 'global') throw new BadRequestError(`service "${req.params.name}" is global: it runs one task per eligible node and cannot be scaled`);
      if (cur.spec.mode === 'job') throw new BadRequestError(`service "${req.params.name}" is a job: change its completions or parallelism in the manifest and apply it (a changed job runs again)`);
      if (cur.spec.replicas !== req.body.replicas) {
        const next: Service = { ...cur, metadata: { ...cur.metadata, updatedAt: new Date().toISOString() }, spec: { ...cur.spec, replicas: req.body.replicas } };
        await store.put(keys.service(req.params.name), next, cur.metadata.version);
        recordScaled(events, req.params.name, cur.spec.replicas ?? 1, req.body.replicas);
      }
      return getService(store, reads, req.params.name);
    },
  );
}

export function registerSchemas(app: FastifyInstance): void {
  app.addSchema(serviceSchema);
}

/** A service as the API shows it: from the cache once it holds this store's writes, else from the store. */
export async function getService(store: Store, reads: CachedReads, name: string): Promise<Service> {
  const fromCache = async () => {
    const cached = await reads.serviceReads();
    if (!cached) return undefined;
    const svc = cached.get(name);
    if (!svc) throw new NotFoundError('service', name);
    return (await reads.serviceViews([svc], cached.update))[0]!;
  };
  const fromStore = async () => {
    const [svc, update] = await Promise.all([store.get<Service>(keys.service(name)), store.get<UpdateStatus>(rolloutKeys.update(name))]);
    if (!svc) throw new NotFoundError('service', name);
    return (await reads.serviceViews([svc], () => update))[0]!;
  };
  return (await fromCache()) ?? (await reads.storeOrCache(fromStore, fromCache));
}
