// Events, newest first, with a filter on reason, object and message.
import { age, badge, h, link } from '../dom.js';
import { VirtualList } from '../vlist.js';
import { bind, newestFirst, OrderedKeys } from './common.js';

function objectOf(e) {
  const o = e.object ?? {};
  const text = `${o.kind}/${o.name}`;
  if (o.kind === 'service') return link(`#/services/${encodeURIComponent(o.name)}`, text);
  if (o.kind === 'node' && o.id) return link(`#/nodes/${encodeURIComponent(o.id)}`, text);
  if (o.kind === 'task' && e.service) return link(`#/services/${encodeURIComponent(e.service)}`, text);
  return text;
}

export const eventColumns = [
  { title: 'AGE', cls: 'num', render: (e) => h('time', { datetime: e.time, title: e.time, text: age(e.time) }) },
  { title: 'TYPE', render: (e) => badge(e.type) },
  { title: 'REASON', render: (e) => e.reason },
  { title: 'OBJECT', render: objectOf },
  { title: 'MESSAGE', cls: 'wide', render: (e) => h('span', { title: e.message, text: e.message }) },
];

export function eventsPage(root, s) {
  let filter = '';
  const list = new VirtualList({ name: 'events', get: (k) => s.events.get(k), maxRows: 25, empty: 'No events', columns: eventColumns });
  const matches = (e) => !filter || `${e.reason} ${e.object?.kind}/${e.object?.name} ${e.message}`.toLowerCase().includes(filter);
  const ordered = new OrderedKeys(s.events, newestFirst, matches);
  const stop = bind(list, s.events, ordered);
  const input = h('input.filter', {
    type: 'search',
    placeholder: 'Filter: reason, object or message',
    'aria-label': 'Filter events',
    oninput: () => {
      filter = input.value.trim().toLowerCase();
      ordered.rebuild();
      list.setKeys(ordered.keys);
    },
  });
  root.append(h('h1', {}, 'Events ', list.count), input, list.el);
  return stop;
}
