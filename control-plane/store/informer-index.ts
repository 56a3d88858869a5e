// Named indexes of an informer's cache (client-go's Indexer, in small): the cached objects grouped
// by a key computed from each (a task's service, its node), kept up to date on every change the
// informer reports, so a component reads one group without scanning the cache. Updating costs
// O(1) per change and allocates nothing but a new group's map.
//
// Owns: the groups and their order. Within a group, objects are in the order they were added;
// with `moveOnChange`, a changed object moves to the end (the order of last change).

/** The index key of an object, or undefined to leave it out of this index. */
export type IndexFunc<T> = (value: T) => string | undefined;

export interface IndexOptions {
  /** A changed object moves to the end of its group (else it keeps its place). */
  moveOnChange?: boolean;
}

/** One named index: per index key, the cached objects by cache key. Read-only for its readers. */
export class InformerIndex<T> {
  private readonly groups = new Map<string, Map<string, T>>();

  constructor(
    readonly fn: IndexFunc<T>,
    private readonly opts: IndexOptions = {},
  ) {}

  /** The objects under index key `key` (by cache key), or undefined when none. */
  get(key: string): ReadonlyMap<string, T> | undefined {
    return this.groups.get(key);
  }

  /** The index keys that have objects. */
  keys(): IterableIterator<string> {
    return this.groups.keys();
  }

  /** The change of the object at `key` from `previous` to `value` (either may be absent). */
  update(key: string, previous: T | undefined, value: T | undefined): void {
    const from = previous === undefined ? undefined : this.fn(previous);
    const to = value === undefined ? undefined : this.fn(value);
    if (from !== undefined && (from !== to || this.opts.moveOnChange)) this.remove(from, key);
    if (to !== undefined) this.add(to, key, value!);
  }

  clear(): void {
    this.groups.clear();
  }

  private add(indexKey: string, key: string, value: T): void {
    let group = this.groups.get(indexKey);
    if (!group) this.groups.set(indexKey, (group = new Map<string, T>()));
    group.set(key, value);
  }

  private remove(indexKey: string, key: string): void {
    const group = this.groups.get(indexKey);
    if (group?.delete(key) && !group.size) this.groups.delete(indexKey);
  }
}
