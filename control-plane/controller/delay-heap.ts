// Keys waiting for a time (wake-ups, retries), earliest first, behind one timer for all: a
// store outage can put thousands of keys in backoff, and a timer each would cost more than
// the work.
//
// Owns: the earliest time of each waiting key. Must not: run work (the work queue does).

interface Entry<K> {
  at: number;
  key: K;
}

export class DelayHeap<K> {
  /** Per key, its time (the earliest asked for) and whether it waits out a retry backoff. */
  private readonly due = new Map<K, { at: number; retry: boolean }>();
  /** May hold stale entries (a key since moved earlier or taken): `due` is the truth. */
  private readonly heap: Entry<K>[] = [];

  get size(): number {
    return this.due.size;
  }

  has(key: K): boolean {
    return this.due.has(key);
  }

  /** Whether `key` waits out a retry backoff. */
  isRetrying(key: K): boolean {
    return this.due.get(key)?.retry === true;
  }

  anyRetrying(): boolean {
    for (const d of this.due.values()) if (d.retry) return true;
    return false;
  }

  /** Keeps the earlier of the key's times; returns whether `at` is now its time. */
  set(key: K, at: number, retry: boolean): boolean {
    const cur = this.due.get(key);
    if (cur && cur.at <= at) {
      cur.retry ||= retry;
      return false;
    }
    this.due.set(key, { at, retry: retry || cur?.retry === true });
    this.push({ at, key });
    return true;
  }

  delete(key: K): void {
    this.due.delete(key);
  }

  /** The earliest time of a waiting key. */
  peekTime(): number | undefined {
    this.dropStale();
    return this.heap[0]?.at;
  }

  /** Removes and returns the keys due at `now`. */
  takeDue(now: number): K[] {
    const out: K[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) return out;
      this.pop();
      this.due.delete(top.key);
      out.push(top.key);
    }
  }

  /** Removes and returns every waiting key. */
  takeAll(): K[] {
    const out = [...this.due.keys()];
    this.due.clear();
    this.heap.length = 0;
    return out;
  }

  private dropStale(): void {
    while (this.heap.length) {
      const top = this.heap[0]!;
      if (this.due.get(top.key)?.at === top.at) return;
      this.pop();
    }
  }

  private push(e: Entry<K>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (!h.length) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
