// The dashboard's entry: login with a token, the session's live collections (services, nodes
// and events watched from the start; tasks from the first page that shows them), and the pages
// by the URL's fragment: #/ (overview), #/services/NAME, #/nodes/ID, #/events.
import { api, token, watch, whenUnauthorized } from './api.js';
import { Collection } from './collection.js';
import { h } from './dom.js';
import { overviewPage } from './pages/overview.js';
import { servicePage } from './pages/service.js';
import { nodePage } from './pages/node.js';
import { eventsPage } from './pages/events.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const live = document.getElementById('live');
const logout = document.getElementById('logout');
let session;
let cleanup;

function loginPage(message) {
  for (const el of [nav, who, live, logout]) el.hidden = true;
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', placeholder: 'berth-api-…', 'aria-label': 'API token' });
  const error = h('p.error', { role: 'alert', text: message ?? '' });
  const form = h(
    'form.login',
    {
      onsubmit: (e) => {
        e.preventDefault();
        const t = input.value.trim();
        const why = token.check(t);
        if (why) return void (error.textContent = why);
        token.set(t);
        void start();
      },
    },
    h('h1', { text: 'Log in to Berth' }),
    h('p', { text: 'An API token (berth token create NAME --role viewer, or the admin token in the server data directory). It stays in this tab only.' }),
    input,
    h('button', { type: 'submit', text: 'Log in' }),
    error,
  );
  main.replaceChildren(form);
  input.focus();
}

function makeSession(me) {
  const services = new Collection((s) => s.metadata.name);
  const nodes = new Collection((n) => n.id);
  const events = new Collection((e) => e.id);
  const watched = [services, nodes, events];
  const stops = [watch('services', services), watch('nodes', nodes), watch('events', events)];
  let tasks;
  const showLive = () => {
    const up = watched.every((c) => c.connected);
    live.textContent = up ? '● live' : '○ reconnecting…';
    live.className = up ? 'live up' : 'live down';
  };
  for (const c of watched) c.onConnection(showLive);
  return {
    me,
    can: (permission) => me.permissions.includes(permission),
    services,
    nodes,
    events,
    tasks() {
      if (!tasks) {
        tasks = new Collection((t) => t.id);
        tasks.addIndex('service', (t) => t.serviceName);
        tasks.addIndex('node', (t) => t.nodeId);
        watched.push(tasks);
        tasks.onConnection(showLive);
        stops.push(watch('tasks', tasks));
      }
      return tasks;
    },
    stop: () => stops.forEach((stop) => stop()),
  };
}

async function start() {
  let me;
  try {
    me = await api('/v1/whoami');
  } catch (err) {
    token.clear();
    return loginPage(err.status === 401 ? `Not logged in: ${err.message}` : `Could not reach the API: ${err.message}`);
  }
  session = makeSession(me);
  who.textContent = `${me.token} (${me.role})`;
  who.dataset.role = me.role;
  for (const el of [nav, who, live, logout]) el.hidden = false;
  route();
}

function route() {
  if (!session) return;
  cleanup?.();
  cleanup = undefined;
  main.replaceChildren();
  const parts = (location.hash.replace(/^#/, '') || '/').split('/').filter(Boolean).map(decodeURIComponent);
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.getAttribute('href') === `#/${parts[0] ?? ''}`);
  if (parts[0] === 'services' && parts[1]) cleanup = servicePage(main, session, parts[1]);
  else if (parts[0] === 'nodes' && parts[1]) cleanup = nodePage(main, session, parts[1]);
  else if (parts[0] === 'events') cleanup = eventsPage(main, session);
  else cleanup = overviewPage(main, session);
}

function end(message) {
  cleanup?.();
  cleanup = undefined;
  session?.stop();
  session = undefined;
  token.clear();
  loginPage(message);
}

whenUnauthorized(() => end('The token is no longer accepted; log in again.'));
logout.addEventListener('click', () => end());
window.addEventListener('hashchange', route);
if (token.get()) void start();
else loginPage();
