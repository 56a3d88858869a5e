// /v1/events: what happened to services, tasks and nodes, oldest first.
import type { FastifyInstance } from 'fastify';
import type { BerthEvent } from '../../../common/events.js';
import { listEvents } from '../../events/recorder.js';
import type { Store } from '../../store/store.js';
import type { CachedReads } from '../cached-reads.js';
import { errorBodySchema } from '../errors.js';

export interface EventFilter {
  kind?: string;
  name?: string;
  /** The service's own events and those of its tasks. */
  service?: string;
}

const eventSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    time: { type: 'string' },
    type: { type: 'string' },
    reason: { type: 'string' },
    object: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' } } },
    message: { type: 'string' },
    service: { type: 'string' },
    version: { type: 'integer' },
  },
} as const;

export function eventRoutes(app: FastifyInstance, store: Store, reads: CachedReads): void {
  app.get<{ Querystring: EventFilter }>(
    '/v1/events',
    {
      config: { permission: 'events:read' },
      schema: {
        summary: 'List recent events, oldest first; service=NAME includes the events of its tasks',
        tags: ['events'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { kind: { type: 'string', enum: ['service', 'task', 'node', 'server'] }, name: { type: 'string' }, service: { type: 'string' } },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: eventSchema } } }, 400: errorBodySchema, 401: errorBodySchema },
      },
    },
    async (req) => {
      // From the store; while etcd does not answer, from the cache.
      const events = (await reads.eventReads()) ?? (await reads.storeOrCache(() => listEvents(store), () => reads.eventReads()));
      return { items: filterEvents(events, req.query) };
    },
  );
}

/** Keys sort by time, so the store's order is already oldest first. */
export function filterEvents(events: readonly BerthEvent[], f: EventFilter): BerthEvent[] {
  return events.filter((e) => {
    if (f.kind && e.object.kind !== f.kind) return false;
    if (f.name && e.object.name !== f.name && e.object.id !== f.name) return false;
    if (f.service && e.service !== f.service && !(e.object.kind === 'service' && e.object.name === f.service)) return false;
    return true;
  });
}
