// The cluster at a glance: nodes with status, services with replicas and health, recent events.
import { age, badge, bytes, cpu, h, link, setContent } from '../dom.js';
import { VirtualList } from '../vlist.js';
import { bind, byName, cmp, newestFirst, OrderedKeys, pollNodeUsage, section, serviceHealth, usageCell, usageText } from './common.js';
import { eventColumns } from './events.js';

export function overviewPage(root, s) {
  const summary = h('div.summary', { 'data-testid': 'summary' });
  /** nodeId -> its usage as shown (`1012m · 57Mi`), for the nodes that reported some. */
  let usage = new Map();
  const nodes = new VirtualList({
    name: 'nodes',
    get: (k) => s.nodes.get(k),
    empty: 'No nodes have joined yet',
    columns: [
      { title: 'NODE', render: (n) => link(`#/nodes/${encodeURIComponent(n.id)}`, n.name) },
      { title: 'STATUS', render: (n) => badge(n.status.state) },
      { title: 'AVAILABILITY', render: (n) => badge(n.availability) },
      { title: 'TASKS', cls: 'num', render: (n) => n.tasks ?? 0 },
      { title: 'CPU', cls: 'num', render: (n) => cpu(n.allocatable?.cpu) },
      { title: 'MEMORY', cls: 'num', render: (n) => bytes(n.allocatable?.memory) },
      { title: 'USAGE', cls: 'usage', render: (n) => usageCell(usage.get(n.id)) },
      { title: 'ADDRESS', render: (n) => n.status.address ?? '' },
    ],
  });
  const services = new VirtualList({
    name: 'services',
    get: (k) => s.services.get(k),
    empty: 'No services: berth apply -f FILE',
    columns: [
      { title: 'SERVICE', render: (v) => link(`#/services/${encodeURIComponent(v.metadata.name)}`, v.metadata.name) },
      { title: 'MODE', render: (v) => v.spec.mode ?? 'replicated' },
      { title: 'IMAGE', cls: 'wide', render: (v) => v.spec.image },
      { title: 'READY', cls: 'num', render: (v) => `${v.status?.ready ?? 0}/${v.status?.desired ?? 0}` },
      { title: 'RUNNING', cls: 'num', render: (v) => v.status?.running ?? 0 },
      { title: 'UP-TO-DATE', cls: 'num', render: (v) => v.status?.upToDate ?? 0 },
      { title: 'HEALTH', render: (v) => badge(serviceHealth(v)) },
      { title: 'AGE', cls: 'num', render: (v) => age(v.metadata.createdAt) },
    ],
  });
  const events = new VirtualList({ name: 'recent-events', get: (k) => s.events.get(k), maxRows: 10, empty: 'No events in the last hour', columns: eventColumns });

  const showSummary = () => {
    let ready = 0;
    let draining = 0;
    for (const n of s.nodes.items.values()) {
      if (n.status.state === 'ready') ready++;
      if (n.availability !== 'active') draining++;
    }
    let healthy = 0;
    for (const v of s.services.items.values()) if (['healthy', 'complete', 'idle'].includes(serviceHealth(v))) healthy++;
    setContent(
      summary,
      h(
        'span',
        {},
        h('b', { text: `${ready}/${s.nodes.items.size}` }), ' nodes ready',
        draining ? ` (${draining} paused or draining)` : '',
        ' · ',
        h('b', { text: `${healthy}/${s.services.items.size}` }), ' services healthy',
      ),
    );
  };
  const stops = [
    bind(nodes, s.nodes, new OrderedKeys(s.nodes, byName), { after: showSummary }),
    bind(services, s.services, new OrderedKeys(s.services, (a, b) => cmp(a.metadata.name, b.metadata.name)), { after: showSummary }),
    bind(events, s.events, new OrderedKeys(s.events, newestFirst)),
    // Only the rows whose figures changed are redrawn (and, in them, only the cells that differ).
    pollNodeUsage((byNode) => {
      const next = new Map();
      for (const [id, u] of byNode) next.set(id, usageText(u));
      const changed = new Set();
      for (const id of new Set([...usage.keys(), ...next.keys()])) if (usage.get(id) !== next.get(id)) changed.add(id);
      usage = next;
      if (changed.size) nodes.update(changed);
    }),
  ];
  showSummary();
  root.append(
    h('h1', { text: 'Cluster' }),
    summary,
    section('Nodes', nodes.el),
    section('Services', services.el),
    section('Recent events', events.el, h('p', {}, link('#/events', 'All events →'))),
  );
  return () => stops.forEach((stop) => stop());
}
