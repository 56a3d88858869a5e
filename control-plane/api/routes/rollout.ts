// /v1/services/:name/revisions and /v1/services/:name/rollout/{undo,pause,resume,restart}:
// revision history and the user's hand on a rolling update. The work is in control-plane/rollout/;
// the orchestrator carries the rollout out.
import type { FastifyInstance } from 'fastify';
import { EventType } from '../../../common/events.js';
import { NotFoundError } from '../../../common/errors.js';
import type { Service } from '../../../common/types.js';
import type { EventRecorder } from '../../events/recorder.js';
import { pause, restart, resume, undo } from '../../rollout/actions.js';
import { listRevisions } from '../../rollout/revisions.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import type { CachedReads } from '../cached-reads.js';
import { errorBodySchema } from '../errors.js';
import { getService } from './services.js';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } as const;
const anyObject = { type: 'object', additionalProperties: true } as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };

/** Reasons of the events the rollout routes record. */
export const RolloutEventReason = {
  RolloutUndo: 'RolloutUndo',
  RolloutPaused: 'RolloutPaused',
  RolloutResumed: 'RolloutResumed',
  RolloutRestart: 'RolloutRestart',
} as const;

export function rolloutRoutes(app: FastifyInstance, store: Store, reads: CachedReads, events?: EventRecorder): void {
  const record = (name: string, reason: string, message: string) =>
    events?.record({ type: EventType.Normal, reason, object: { kind: 'service', name }, service: name, message });

  app.get<{ Params: { name: string } }>(
    '/v1/services/:name/revisions',
    { config: { permission: 'services:read' }, schema: { summary: 'Revision history of a service, oldest first', tags: ['rollout'], params: nameParams, response: { 200: { type: 'object', properties: { items: { type: 'array', items: anyObject }, current: { type: 'integer' } } }, ...errors } } },
    async (req) => {
      const svc = await store.get<Service>(keys.service(req.params.name));
      if (!svc) throw new NotFoundError('service', req.params.name);
      return { items: await listRevisions(store, req.params.name), current: svc.metadata.revision ?? 0 };
    },
  );

  app.post<{ Params: { name: string }; Body: { toRevision?: number } | undefined }>(
    '/v1/services/:name/rollout/undo',
    {
      config: { permission: 'services:write' },
      schema: {
        summary: 'Roll back to a previous revision (default: the one before the current)',
        tags: ['rollout'],
        params: nameParams,
        body: { type: 'object', additionalProperties: false, properties: { toRevision: { type: 'integer', minimum: 1 } } },
        response: { 200: anyObject, ...errors },
      },
    },
    async (req) => {
      const r = await undo(store, req.params.name, req.body?.toRevision);
      record(req.params.name, RolloutEventReason.RolloutUndo, `rollout undo from revision ${r.from} to ${r.to}: new revision ${r.update.revision}`);
      return getService(store, reads, req.params.name);
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/services/:name/rollout/pause',
    { config: { permission: 'services:write' }, schema: { summary: 'Pause the rollout in progress', tags: ['rollout'], params: nameParams, response: { 200: anyObject, ...errors } } },
    async (req) => {
      const u = await pause(store, req.params.name);
      record(req.params.name, RolloutEventReason.RolloutPaused, `rollout of revision ${u.revision} paused by the user`);
      return getService(store, reads, req.params.name);
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/services/:name/rollout/resume',
    { config: { permission: 'services:write' }, schema: { summary: 'Resume a paused rollout', tags: ['rollout'], params: nameParams, response: { 200: anyObject, ...errors } } },
    async (req) => {
      const u = await resume(store, req.params.name);
      record(req.params.name, RolloutEventReason.RolloutResumed, `rollout of revision ${u.revision} resumed`);
      return getService(store, reads, req.params.name);
    },
  );

  app.post<{ Params: { name: string } }>(
    '/v1/services/:name/rollout/restart',
    { config: { permission: 'services:write' }, schema: { summary: 'Replace every task (a new revision with the same spec)', tags: ['rollout'], params: nameParams, response: { 200: anyObject, ...errors } } },
    async (req) => {
      const r = await restart(store, req.params.name);
      record(req.params.name, RolloutEventReason.RolloutRestart, `rollout restart: revision ${r.update.revision} replaces every task`);
      return getService(store, reads, req.params.name);
    },
  );
}
