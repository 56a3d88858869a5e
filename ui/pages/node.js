// One node: its status, labels and availability, cordon (pause), drain and activate for tokens
// allowed to (nodes:write), and the tasks it runs.
import { api } from '../api.js';
import { age, badge, bytes, cpu, h, link, setContent } from '../dom.js';
import { VirtualList } from '../vlist.js';
import { bind, cmp, OrderedKeys, pollNodeUsage, section, usageCell, usageText } from './common.js';

const ACTIONS = [
  { availability: 'active', label: 'Activate' },
  { availability: 'pause', label: 'Cordon (pause)' },
  { availability: 'drain', label: 'Drain' },
];

export function nodePage(root, s, ref) {
  const tasks = s.tasks();
  // The page is reached by id; a node's name works too (looked up once).
  let resolved;
  const findId = () => {
    if (s.nodes.get(ref)) return ref;
    resolved ??= [...s.nodes.items.values()].find((n) => n.name === ref)?.id;
    return resolved;
  };
  const info = h('div.info', { 'data-testid': 'node-info' });
  const labels = h('div.labels', { 'data-testid': 'labels' });
  const actions = h('div.actions', { 'data-testid': 'node-actions' });
  const result = h('p.muted', { role: 'status' });
  const title = h('h1', {}, 'Node ', h('span.name', { text: ref }));
  // Kept across redraws of the info block; refreshed by the usage poll.
  const usage = h('dd', { 'data-testid': 'node-usage' });
  let usageByNode = new Map();
  const showUsage = () => {
    const id = findId();
    setContent(usage, usageCell(usageText(id && usageByNode.get(id))));
  };

  const list = new VirtualList({
    name: 'node-tasks',
    get: (k) => tasks.get(k),
    empty: 'No tasks on this node',
    rowClass: (t) => (t.desiredState === 'running' ? 'live' : 'ended'),
    columns: [
      { title: 'SERVICE', render: (t) => link(`#/services/${encodeURIComponent(t.serviceName)}`, t.serviceName) },
      { title: 'TASK', cls: 'wide', render: (t) => t.name },
      { title: 'STATE', render: (t) => badge(t.status.state) },
      { title: 'DESIRED', render: (t) => t.desiredState },
      { title: 'AGE', cls: 'num', render: (t) => age(t.createdAt) },
      { title: 'MESSAGE', cls: 'wide', render: (t) => h('span', { title: t.status.message ?? '', text: t.status.message ?? '' }) },
    ],
  });
  // Live tasks first, then by name.
  const order = (a, b) => Number(b.desiredState === 'running') - Number(a.desiredState === 'running') || cmp(a.name, b.name) || cmp(a.id, b.id);
  const ordered = new OrderedKeys(tasks, order, (t) => t.nodeId !== undefined && t.nodeId === findId());

  const setAvailability = async (availability) => {
    const id = findId();
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    result.textContent = `setting ${availability}…`;
    try {
      await api(`/v1/nodes/${encodeURIComponent(id)}/availability`, { method: 'POST', body: { availability } });
      result.textContent = `availability set to ${availability}`;
    } catch (err) {
      result.textContent = `failed: ${err.message}`;
    }
    showNode();
  };

  const showNode = () => {
    const id = findId();
    const n = id && s.nodes.get(id);
    if (!n) {
      setContent(info, h('p.error', { text: s.nodes.loaded ? `Node ${ref} does not exist (or was removed).` : 'Loading…' }));
      setContent(labels, '');
      setContent(actions, '');
      return;
    }
    setContent(title.lastChild, n.name);
    showUsage();
    setContent(
      info,
      h(
        'dl',
        {},
        h('dt', { text: 'Status' }), h('dd', { 'data-testid': 'node-status' }, badge(n.status.state), n.status.message ? ` ${n.status.message}` : ''),
        h('dt', { text: 'Availability' }), h('dd', { 'data-testid': 'availability' }, badge(n.availability)),
        h('dt', { text: 'Address' }), h('dd', { text: n.status.address ?? '' }),
        h('dt', { text: 'Allocatable' }), h('dd', { text: `${cpu(n.allocatable?.cpu)} CPU, ${bytes(n.allocatable?.memory)}` }),
        h('dt', { text: 'Runtime' }), h('dd', { text: n.runtime ?? '' }),
        h('dt', { text: 'Tasks' }), h('dd', { text: String(n.tasks ?? 0) }),
        h('dt', { text: 'Joined' }), h('dd', { title: n.createdAt, text: `${age(n.createdAt)} ago` }),
        h('dt', { text: 'Usage' }), usage,
      ),
    );
    const entries = Object.entries(n.labels ?? {});
    setContent(labels, entries.length ? h('span', {}, entries.map(([k, v]) => h('span.chip', { text: `${k}=${v}` }))) : 'No labels');
    if (!s.can('nodes:write')) {
      setContent(actions, '');
      return;
    }
    setContent(
      actions,
      h(
        'span',
        {},
        ACTIONS.map((a) =>
          h('button', {
            type: 'button',
            'data-action': a.availability,
            disabled: n.availability === a.availability,
            onclick: () => void setAvailability(a.availability),
            text: a.label,
          }),
        ),
      ),
    );
  };

  const stops = [
    bind(list, tasks, ordered),
    pollNodeUsage((byNode) => {
      usageByNode = byNode;
      showUsage();
    }),
    s.nodes.listen(({ changed, structural }) => {
      if (structural) {
        ordered.rebuild();
        list.setKeys(ordered.keys);
      }
      if (structural || changed.has(findId())) showNode();
    }),
  ];
  showNode();
  root.append(title, info, section('Labels', labels), actions, result, section('Tasks', list.el));
  return () => stops.forEach((stop) => stop());
}
