// The events of the user's own changes to services, recorded by the routes that make them.
import { EventReason, EventType, type EventInput } from '../../common/events.js';
import type { EventRecorder } from '../events/recorder.js';
import type { ApplyResult } from './apply.js';

function serviceEvent(name: string, reason: string, message: string): EventInput {
  return { type: EventType.Normal, reason, object: { kind: 'service', name }, service: name, message };
}

export function recordApplied(events: EventRecorder | undefined, results: readonly ApplyResult[]): void {
  for (const r of results) {
    if (r.action === 'created') events?.record(serviceEvent(r.name, EventReason.ServiceCreated, `created at version ${r.version}`));
    if (r.action === 'configured') events?.record(serviceEvent(r.name, EventReason.ServiceUpdated, `spec updated to version ${r.version}`));
  }
}

export function recordDeleted(events: EventRecorder | undefined, name: string): void {
  events?.record(serviceEvent(name, EventReason.ServiceDeleted, 'deleted; its tasks are shut down and removed'));
}

export function recordScaled(events: EventRecorder | undefined, name: string, from: number, to: number): void {
  events?.record(serviceEvent(name, EventReason.ServiceScaled, `scaled from ${from} to ${to} replicas`));
}
