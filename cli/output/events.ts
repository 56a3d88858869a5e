// `get events`: kubectl's event table, oldest first (the newest is next to the prompt).
import type { BerthEvent } from '../../common/events.js';
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
