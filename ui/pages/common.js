// Pieces the pages share: sections, sorted keys, the health of a service, and the wiring of a
// list to a collection (redraw on change, ages every 5 s, all undone when the page closes).
import { h } from '../dom.js';

export function section(title, ...children) {
  return h('section', {}, h('h2', { text: title }), ...children);
}

/** Keys of `collection` (or of `keys`), sorted by `compare` on their objects. */
export function sortedKeys(collection, compare, keys = collection.items.keys()) {
  const out = [];
  for (const k of keys) if (collection.get(k)) out.push(k);
  return out.sort((a, b) => compare(collection.get(a), collection.get(b)));
}

export const byName = (a, b) => a.name.localeCompare(b.name);
export const newestFirst = (a, b) => b.time.localeCompare(a.time) || b.id.localeCompare(a.id);

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
 * Keeps `list` in step with `collection`: `keys()` recomputed when objects come or go (or when
 * `affects(changedKeys)` says the order or membership may have moved), else only the changed
 * visible rows redrawn. Returns the function that stops it.
 */
export function bind(list, collection, keys, { affects, after } = {}) {
  const redraw = () => list.setKeys(keys());
  redraw();
  const off = collection.listen(({ changed, structural }) => {
    if (structural || affects?.(changed)) redraw();
    else list.update(changed);
    after?.(changed);
  });
  const ages = setInterval(() => list.refresh(), 5000);
  return () => {
    off();
    clearInterval(ages);
  };
}
