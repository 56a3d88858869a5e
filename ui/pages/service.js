// One service: its state and rollout progress, its tasks by node (ended ones too, newest of a
// slot first), its revision history, and the logs of a task followed live.
import { api, follow } from '../api.js';
import { age, badge, h, link, setContent } from '../dom.js';
import { VirtualList } from '../vlist.js';
import { bind, cmp, OrderedKeys, section, serviceHealth } from './common.js';

const MAX_LOG_LINES = 2000;

export function servicePage(root, s, name) {
  const tasks = s.tasks();
  const nodeName = (id) => (id ? (s.nodes.get(id)?.name ?? id) : '');
  const canLogs = s.can('tasks:logs');
  const title = h('h1', {}, 'Service ', h('span.name', { text: name }));
  const info = h('div.info', { 'data-testid': 'service-info' });
  const rollout = h('div.rollout', { 'data-testid': 'rollout' });
  const byNode = h('div.bynode', { 'data-testid': 'tasks-by-node' });
  const revisions = h('div.revisions', { 'data-testid': 'revisions' });
  const logs = h('section.logs', { hidden: true, 'data-testid': 'logs' });
  let shownRevision;
  let logAbort;

  const list = new VirtualList({
    name: 'tasks',
    get: (k) => tasks.get(k),
    maxRows: 15,
    empty: 'No tasks',
    rowClass: (t) => (t.desiredState === 'running' ? 'live' : 'ended'),
    columns: [
      { title: 'NODE', render: (t) => (t.nodeId ? link(`#/nodes/${encodeURIComponent(t.nodeId)}`, nodeName(t.nodeId)) : '—') },
      { title: 'TASK', cls: 'wide', render: (t) => t.name },
      { title: 'SLOT', cls: 'num', render: (t) => t.slot || '' },
      { title: 'STATE', render: (t) => badge(t.status.state) },
      { title: 'DESIRED', render: (t) => t.desiredState },
      { title: 'HEALTH', render: (t) => (t.status.health ? badge(t.status.health) : '') },
      { title: 'REV', cls: 'num', render: (t) => t.revision ?? '' },
      { title: 'AGE', cls: 'num', render: (t) => age(t.createdAt) },
      { title: 'MESSAGE', cls: 'wide', render: (t) => h('span', { title: t.status.message ?? '', text: t.status.message ?? '' }) },
      {
        title: '',
        render: (t) =>
          canLogs && t.nodeId ? h('button.small', { type: 'button', 'data-action': 'logs', onclick: () => openLogs(t), text: 'Logs' }) : '',
      },
    ],
  });

  // By node, slot, newest first; tasks not placed yet last.
  const order = (a, b) => cmp(nodeName(a.nodeId) || '\uffff', nodeName(b.nodeId) || '\uffff') || a.slot - b.slot || cmp(b.createdAt, a.createdAt) || cmp(a.id, b.id);
  const ordered = new OrderedKeys(tasks, order, (t) => t.serviceName === name);

  const showByNode = () => {
    const counts = new Map();
    for (const k of tasks.keysBy('service', name)) {
      const t = tasks.get(k);
      if (t.desiredState !== 'running' || !t.nodeId) continue;
      const c = counts.get(t.nodeId) ?? { running: 0, live: 0 };
      c.live++;
      if (t.status.state === 'running') c.running++;
      counts.set(t.nodeId, c);
    }
    const chips = [...counts].sort((a, b) => cmp(nodeName(a[0]), nodeName(b[0])));
    setContent(
      byNode,
      h('span', {}, chips.length ? chips.map(([id, c]) => h('span.chip', { text: `${nodeName(id)}: ${c.running}/${c.live} running` })) : 'No live task on any node'),
    );
  };

  const showService = () => {
    const v = s.services.get(name);
    if (!v) {
      setContent(info, h('p.error', { text: `Service ${name} does not exist (or was deleted).` }));
      setContent(rollout, '');
      return;
    }
    const st = v.status ?? {};
    setContent(
      info,
      h(
        'dl',
        {},
        h('dt', { text: 'Image' }), h('dd', { text: v.spec.image }),
        h('dt', { text: 'Mode' }), h('dd', { text: v.spec.mode ?? 'replicated' }),
        h('dt', { text: 'Replicas' }), h('dd', { 'data-testid': 'replicas', text: `${st.ready ?? 0}/${st.desired ?? 0} ready, ${st.running ?? 0} running` }),
        h('dt', { text: 'Health' }), h('dd', {}, badge(serviceHealth(v))),
        h('dt', { text: 'Revision' }), h('dd', { text: String(v.metadata.revision ?? '') }),
      ),
    );
    const desired = st.desired ?? 0;
    const upToDate = Math.min(st.upToDate ?? 0, desired);
    // Done: up to date and ready (the slower of the two).
    const done = Math.min(upToDate, st.ready ?? 0);
    const pct = desired ? Math.round((done / desired) * 100) : 100;
    const bar = h('div.bar', { role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': desired, 'aria-valuenow': done }, h('div.fill'));
    bar.firstChild.style.width = `${pct}%`;
    setContent(
      rollout,
      h(
        'div',
        {},
        h('span', {}, st.update ? badge(st.update.state) : badge('no rollout', 'none'), ` ${upToDate}/${desired} up to date · ${Math.min(st.ready ?? 0, desired)}/${desired} ready`),
        bar,
        st.update?.message ? h('p.muted', { text: st.update.message }) : '',
      ),
    );
    if (v.metadata.revision !== shownRevision) {
      shownRevision = v.metadata.revision;
      void loadRevisions();
    }
  };

  const loadRevisions = async () => {
    try {
      const r = await api(`/v1/services/${encodeURIComponent(name)}/revisions`);
      const rows = [...r.items].reverse().map((rev) =>
        h(
          `tr${rev.number === r.current ? '.current' : ''}`,
          {},
          h('td', { text: String(rev.number) + (rev.number === r.current ? ' (current)' : '') }),
          h('td', { title: rev.createdAt, text: age(rev.createdAt) }),
          h('td', { text: rev.changeCause }),
          h('td', { text: rev.summary }),
        ),
      );
      setContent(
        revisions,
        rows.length
          ? h('table', {}, h('thead', {}, h('tr', {}, ['REVISION', 'AGE', 'CAUSE', 'CHANGE'].map((t) => h('th', { text: t })))), h('tbody', {}, rows))
          : 'No revisions',
      );
    } catch (err) {
      setContent(revisions, h('p.error', { text: `Revisions: ${err.message}` }));
    }
  };

  const openLogs = (t) => {
    logAbort?.abort();
    const abort = new AbortController();
    logAbort = abort;
    const out = h('div.logout', { 'data-testid': 'log-lines' });
    const status = h('span.muted', { text: 'following…' });
    logs.hidden = false;
    setContent(
      logs,
      h(
        'div',
        {},
        h('h2', {}, 'Logs of ', h('span.name', { text: t.name }), ' ', status, ' ', h('button.small', { type: 'button', onclick: () => abort.abort(), text: 'Stop' })),
        out,
      ),
    );
    const add = (cls, text) => {
      const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      out.append(h(`div.${cls}`, { text }));
      while (out.childElementCount > MAX_LOG_LINES) out.firstChild.remove();
      if (stick) out.scrollTop = out.scrollHeight;
    };
    follow(
      `/v1/tasks/${encodeURIComponent(t.name)}/logs?follow=true&tail=200`,
      (m) => {
        if ('line' in m) add(m.stream === 'stderr' ? 'line.stderr' : 'line', m.line);
        else if ('notice' in m) add('notice', m.notice);
        else if ('error' in m) add('error', `${m.error}: ${m.message}`);
      },
      abort.signal,
    ).then(
      () => (status.textContent = 'ended'),
      (err) => (status.textContent = abort.signal.aborted ? 'stopped' : `failed: ${err.message}`),
    );
  };

  const stops = [
    bind(list, tasks, ordered, { after: showByNode }),
    s.services.listen(({ changed, structural }) => {
      if (structural || changed.has(name)) showService();
    }),
    // Node names arrive after the tasks on a first load: order again once they do.
    s.nodes.listen(({ structural }) => {
      if (!structural) return;
      ordered.rebuild();
      list.setKeys(ordered.keys);
    }),
  ];
  showService();
  showByNode();
  root.append(
    title,
    info,
    section('Rollout', rollout),
    section('Tasks by node', byNode, list.el),
    logs,
    section('Revision history', revisions),
  );
  return () => {
    stops.forEach((stop) => stop());
    logAbort?.abort();
  };
}
