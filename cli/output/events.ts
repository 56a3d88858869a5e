// `get events`: kubectl's event table, oldest first (the newest is next to the prompt).
import type { BerthEvent } from '../../common/events.js';
import type { DescribeEvent } from './describe.js';
import { formatAge } from './age.js';
import type { TableView } from './views.js';

export function objectRef(e: Pick<BerthEvent, 'object'>): string {
  return `${e.object.kind}/${e.object.name}`;
}

export function eventsView(items: readonly BerthEvent[], nowMs: number): TableView {
  return {
    headers: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    rows: items.map((e) => [formatAge(e.time, nowMs), e.type, e.reason, objectRef(e), e.message]),
  };
}

/** Events `describe` shows, newest last. */
export const DESCRIBE_EVENTS = 20;

/**
 * The last events of an object for `describe`; for a service, its tasks' events name the task
 * in the message (the Events table has no OBJECT column).
 */
export function recentEvents(items: readonly BerthEvent[], service?: string): DescribeEvent[] {
  return items.slice(-DESCRIBE_EVENTS).map((e) => ({
    time: e.time,
    type: e.type,
    reason: e.reason,
    message: service && !(e.object.kind === 'service' && e.object.name === service) ? `${objectRef(e)}: ${e.message}` : e.message,
  }));
}
