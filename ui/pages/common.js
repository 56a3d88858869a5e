// Pieces the pages share: sections, sorted keys, the health of a service, and the wiring of a
// list to a collection (redraw on change, ages every 5 s, all undone when the page closes), and
// the nodes' usage polled every 5 s.
import { api } from '../api.js';
import { bytes, cpu, h } from '../dom.js';

export function section(title, ...children) {
  return h('section', {}, h('h2', { text: title }), ...children);
}

/** Plain ordering of strings (code units; names and ISO times sort right, and fast). */
export const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
export const byName = (a, b) => cmp(a.name, b.name);
export const newestFirst = (a, b) => cmp(b.time, a.time) || cmp(b.id, a.id);

/**
 * The keys of the objects of `collection` that `include` accepts, kept in `compare` order as
 * they come, change and go: a small batch is placed by binary search (an object whose place is
 * unchanged is not moved); a large one (the first load) is sorted once.
 */
export class OrderedKeys {
  constructor(collection, compare, include = () => true) {
    this.collection = collection;
    this.compare = compare;
    this.include = include;
    this.keys = [];
    this.present = new Set();
    this.rebuild();
  }

  rebuild() {
    const c = this.collection;
    this.keys = [];
    this.present = new Set();
    for (const [k, o] of c.items) if (this.include(o)) this.keys.push(k);
    for (const k of this.keys) this.present.add(k);
    this.keys.sort((a, b) => this.compare(c.get(a), c.get(b)));
  }

  /** Applies a batch of changed keys; whether the order or membership changed. */
  apply(changed) {
    if (changed.size > Math.max(64, this.keys.length / 8)) {
      this.rebuild();
      return true;
    }
    // Take every changed key out (what stays is still in order), then place those wanted.
    const before = this.keys;
    let taken = false;
    for (const k of changed) if (this.present.has(k)) taken = true;
    if (taken) this.keys = before.filter((k) => !changed.has(k));
    for (const k of changed) {
      const o = this.collection.get(k);
      if (o !== undefined && this.include(o)) {
        if (!taken && !this.present.has(k) && this.keys === before) this.keys = before.slice();
        this.insert(k, o);
        this.present.add(k);
      } else this.present.delete(k);
    }
    if (this.keys.length !== before.length) return true;
    for (let i = 0; i < before.length; i++) if (this.keys[i] !== before[i]) return true;
    return false;
  }

  insert(k, o) {
    const c = this.collection;
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.compare(c.get(this.keys[mid]), o) <= 0) lo = mid + 1;
      else hi = mid;
    }
    this.keys.splice(lo, 0, k);
  }
}

/** A service's health in one word: rolling out, paused, healthy, degraded, down, complete. */
export function serviceHealth(s) {
  const st = s.status ?? {};
  const update = st.update?.state;
  if (update === 'updating') return 'rolling-out';
  if (update === 'rolling-back') return 'rolling-back';
  if (update === 'paused') return 'paused';
  if (st.job) return st.job;
  if ((st.desired ?? 0) === 0) return 'idle';
  if ((st.ready ?? 0) >= st.desired) return 'healthy';
  if ((st.ready ?? 0) === 0) return 'down';
  return 'degraded';
}

/**
 * Keeps `list` in step with `collection` through `ordered` (OrderedKeys): when objects come, go
 * or move, the list gets the new keys and redraws the rows in view; otherwise only the changed
 * rows in view are redrawn. Returns the function that stops it.
 */
export function bind(list, collection, ordered, { after } = {}) {
  list.setKeys(ordered.keys);
  const off = collection.listen(({ changed }) => {
    if (ordered.apply(changed)) list.setKeys(ordered.keys);
    else list.update(changed);
    after?.(changed);
  });
  const ages = setInterval(() => list.refresh(), 5000);
  return () => {
    off();
    clearInterval(ages);
  };
}

/** How often the nodes' usage is asked for: the agents report every 5 s. */
const USAGE_MS = 5000;

/**
 * Polls `GET /v1/usage/nodes` now and every 5 s; calls fn(Map nodeId -> NodeUsage) after each
 * answer. A failed call gives an empty map (no figures rather than stale ones). Returns the
 * function that stops it.
 */
export function pollNodeUsage(fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    let byNode = new Map();
    try {
      const list = await api('/v1/usage/nodes');
      byNode = new Map((list?.items ?? []).map((u) => [u.nodeId, u]));
    } catch {
      // Shown as no figures; the next poll tries again.
    }
    if (stopped) return;
    fn(byNode);
    timer = setTimeout(tick, USAGE_MS);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A node's CPU and memory in use, `1012m · 57Mi`; undefined when it reported none. */
export function usageText(u) {
  return u ? `${cpu(Math.round(u.cpu))} · ${bytes(u.memory)}` : undefined;
}

/** The usage figures, or `—` when there are none. */
export function usageCell(text) {
  return text ?? h('span.pending', { title: 'no usage reported (process runtime, or no sample yet)', text: '—' });
}
