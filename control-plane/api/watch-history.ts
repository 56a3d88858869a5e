// The changes of one watch kind as /v1/watch sends them: the objects last sent, and a bounded
// history (the last 10,000 changes), so a client that reconnects with `fromVersion` gets exactly
// what it missed from memory (Kubernetes' watch cache, in small). A version older than the
// history (the cache started later, or trimmed it) is "gone": the client lists again.
import { BerthError } from '../../common/errors.js';
import { WatchEventType, type WatchChange } from '../../common/watch.js';
import type { InformerEvent } from '../store/informer.js';

/** Changes kept per kind for resuming clients. */
const HISTORY = 10_000;

export class VersionGoneError extends BerthError {
  override readonly code: string = 'GONE';
}

export type Subscriber = (change: WatchChange) => void;

/** The changes of one watch kind: current objects, a history, and who listens. */
export class WatchHistory {
  /** Versions after `from` are all in the history. */
  private from = 0;
  private head = 0;
  private readonly history: WatchChange[] = [];
  private readonly subscribers = new Set<Subscriber>();
  /** What was last sent of each object, by key. */
  readonly current = new Map<string, unknown>();

  init(revision: number, objects: Iterable<[string, unknown]>): void {
    this.from = this.head = revision;
    for (const [k, o] of objects) this.current.set(k, o);
  }

  push(type: WatchChange['type'], key: string, object: unknown, revision: number): void {
    if (type === WatchEventType.Deleted) this.current.delete(key);
    else this.current.set(key, object);
    // Changes of two prefixes may interleave: the version never goes back.
    this.head = Math.max(this.head, revision);
    const change: WatchChange = { type, object, version: this.head };
    this.history.push(change);
    if (this.history.length > HISTORY) this.from = this.history.shift()!.version;
    for (const s of this.subscribers) s(change);
  }

  /** Sends the current objects (or what followed `fromVersion`), then every change. */
  subscribe(fromVersion: number | undefined, send: Subscriber): () => void {
    if (fromVersion === undefined) {
      for (const object of this.current.values()) send({ type: WatchEventType.Added, object, version: this.head });
    } else {
      if (fromVersion < this.from) {
        throw new VersionGoneError(`version ${fromVersion} is too old to resume from (the oldest is ${this.from}): list again`);
      }
      for (const c of this.history) if (c.version > fromVersion) send(c);
    }
    this.subscribers.add(send);
    return () => this.subscribers.delete(send);
  }

  close(): void {
    this.subscribers.clear();
  }
}

/** The watch change an informer event is. */
export function changeType<T>(ev: InformerEvent<T>): WatchChange['type'] {
  if (ev.type === 'delete') return WatchEventType.Deleted;
  return ev.previous === undefined ? WatchEventType.Added : WatchEventType.Modified;
}

/** What a client sees change of a derived view: its status and task count. */
export const statusOf = (o: unknown): string => JSON.stringify((o as { status?: unknown; tasks?: unknown }).status ?? null) + String((o as { tasks?: unknown }).tasks);

/**
 * A MODIFIED of the object at `key` when a change elsewhere (a task count) changed its derived
 * view; nothing if it is gone or was never sent.
 */
export function restateIn<T>(history: WatchHistory, key: string, cache: ReadonlyMap<string, T>, view: (o: T) => unknown, rev: number): void {
  const obj = cache.get(key);
  const before = history.current.get(key);
  if (obj === undefined || !before) return;
  const after = view(obj);
  if (statusOf(after) !== statusOf(before)) history.push(WatchEventType.Modified, key, after, rev);
}
