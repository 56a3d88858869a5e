// The page's copy of one kind of object (services, nodes, tasks, events), kept by the watch
// (api.js). Changes are gathered and announced at most once per animation frame, with the keys
// that changed and whether any object came or went, so a view updates only what changed instead
// of redrawing per message. Named indexes (tasks by service, by node) are kept on every change.

export class Collection {
  constructor(keyOf) {
    this.keyOf = keyOf;
    this.items = new Map();
    this.listeners = new Set();
    this.indexes = new Map();
    this.changed = new Set();
    this.structural = false;
    this.scheduled = false;
    this.connected = false;
    /** Whether the first batch of current objects arrived (the view can stop saying "loading"). */
    this.loaded = false;
    this.connectionListeners = new Set();
  }

  /** An index: fn(obj) -> key (or undefined: not indexed); get with index(name).get(key). */
  addIndex(name, fn) {
    const idx = { fn, map: new Map(), of: new Map() };
    for (const [k, o] of this.items) this.indexPut(idx, k, o);
    this.indexes.set(name, idx);
  }

  /** The keys of objects whose index value is `value`. */
  keysBy(name, value) {
    return this.indexes.get(name)?.map.get(value) ?? new Set();
  }

  indexPut(idx, key, obj) {
    const prev = idx.of.get(key);
    const next = obj === undefined ? undefined : idx.fn(obj);
    if (prev === next) return;
    if (prev !== undefined) {
      const set = idx.map.get(prev);
      set?.delete(key);
      if (set && set.size === 0) idx.map.delete(prev);
    }
    if (next === undefined) idx.of.delete(key);
    else {
      idx.of.set(key, next);
      let set = idx.map.get(next);
      if (!set) idx.map.set(next, (set = new Set()));
      set.add(key);
    }
  }

  get(key) {
    return this.items.get(key);
  }

  apply(msg) {
    const key = this.keyOf(msg.object);
    if (msg.type === 'DELETED') {
      if (!this.items.delete(key)) return;
      this.structural = true;
      for (const idx of this.indexes.values()) this.indexPut(idx, key, undefined);
    } else {
      if (!this.items.has(key)) this.structural = true;
      this.items.set(key, msg.object);
      for (const idx of this.indexes.values()) this.indexPut(idx, key, msg.object);
    }
    this.changed.add(key);
    this.schedule();
  }

  clear() {
    for (const key of this.items.keys()) this.changed.add(key);
    this.items.clear();
    for (const idx of this.indexes.values()) {
      idx.map.clear();
      idx.of.clear();
    }
    this.structural = true;
    this.loaded = false;
    this.schedule();
  }

  setConnected(up) {
    this.connected = up;
    if (up) {
      // The current objects come first, in one burst: once a frame passes with them, it is loaded.
      setTimeout(() => {
        this.loaded = true;
        this.structural = true;
        this.schedule();
      }, 50);
    }
    for (const fn of this.connectionListeners) fn(up);
  }

  /** fn({ changed: Set<key>, structural: boolean }) after changes; returns a function that removes it. */
  listen(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onConnection(fn) {
    this.connectionListeners.add(fn);
    return () => this.connectionListeners.delete(fn);
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      if (!this.scheduled) return;
      this.scheduled = false;
      const batch = { changed: this.changed, structural: this.structural };
      this.changed = new Set();
      this.structural = false;
      for (const fn of this.listeners) fn(batch);
    };
    // A hidden tab gets no animation frames: the timer makes sure the batch still lands.
    requestAnimationFrame(flush);
    setTimeout(flush, 250);
  }
}
