// Named files in the store that services mount (secrets and configs): `<prefix><name>` holds the
// metadata and the value in the form its kind keeps it (sealed for a secret, plain for a config).
// Owns: create, update (which rolls the services using the file, in the same transaction),
// remove (refused while a service uses it), list (metadata only), the value of one file, and
// the values of one task's files for the dispatcher. Must not: put a value in an error or a log line.
import { timingSafeEqual } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../../common/errors.js';
import type { SecretInfo, SecretRef, Service, ServiceSpec } from '../../common/types.js';
import { MAX_SECRET_BYTES } from '../../common/workloads.js';
import { keys } from '../store/keys.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import { pruneRevisions, revisionWrite } from '../rollout/revisions.js';

/** How one kind of file object is named, referenced by a spec and kept at rest. */
export interface FileKind<Kept> {
  /** `secret`, `config`: in messages and change causes. */
  kind: string;
  prefix: string;
  refs: (spec: ServiceSpec) => readonly SecretRef[] | undefined;
  /** The value as stored (bound to its name). */
  keep: (name: string, value: Buffer) => Kept;
  /** The value back from what was stored. */
  open: (name: string, kept: Kept) => Buffer;
}

export interface StoredFile<Kept> {
  name: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  /** A secret's sealed value. */
  sealed?: Kept;
  /** A config's value (base64). */
  data?: Kept;
  /** Free-form labels (`berth.stack` on the files a stack created). */
  labels?: Record<string, string>;
  version?: number;
}

export function fileInfo<K>(s: StoredFile<K>): SecretInfo {
  return {
    name: s.name,
    size: s.size,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    ...(s.labels && Object.keys(s.labels).length ? { labels: s.labels } : {}),
    ...(s.version !== undefined ? { version: s.version } : {}),
  };
}

/** Services whose spec asks for the file `name` of kind `refs`. */
export function servicesUsingFile(services: readonly Service[], name: string, refs: (spec: ServiceSpec) => readonly SecretRef[] | undefined): string[] {
  return services.filter((s) => (refs(s.spec) ?? []).some((r) => r.source === name)).map((s) => s.metadata.name);
}

export class FileStore<Kept> {
  constructor(
    protected readonly store: Store,
    private readonly k: FileKind<Kept>,
    /** Which field of the stored object holds the kept value. */
    private readonly field: 'sealed' | 'data',
  ) {}

  private key(name: string): string {
    return `${this.k.prefix}${name}`;
  }

  private checkSize(value: Buffer): void {
    if (value.length > MAX_SECRET_BYTES) {
      throw new ValidationError([{ path: 'value', reason: `${this.k.kind} is ${value.length} bytes; at most ${MAX_SECRET_BYTES} are allowed`, source: '' }]);
    }
  }

  private async read(name: string): Promise<StoredFile<Kept>> {
    const s = await this.store.get<StoredFile<Kept>>(this.key(name));
    if (!s) throw new NotFoundError(this.k.kind, name);
    return s;
  }

  /** The value of one file (the dispatcher's, and a config's inspect). */
  protected async value(name: string): Promise<{ file: StoredFile<Kept>; data: Buffer }> {
    const file = await this.read(name);
    return { file, data: this.k.open(name, file[this.field]!) };
  }

  async list(): Promise<SecretInfo[]> {
    const { items } = await this.store.list<StoredFile<Kept>>(this.k.prefix);
    return items.map(fileInfo).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<SecretInfo> {
    return fileInfo(await this.read(name));
  }

  async create(name: string, value: Buffer, labels?: Record<string, string>): Promise<SecretInfo> {
    this.checkSize(value);
    const now = new Date().toISOString();
    const s: StoredFile<Kept> = { name, size: value.length, createdAt: now, updatedAt: now, [this.field]: this.k.keep(name, value), ...(labels && Object.keys(labels).length ? { labels } : {}) };
    try {
      s.version = await this.store.create(this.key(name), s);
    } catch (err) {
      if (err instanceof ConflictError) throw new ConflictError(this.key(name), `${this.k.kind} "${name}" already exists (use berth ${this.k.kind} update)`);
      throw err;
    }
    return fileInfo(s);
  }

  /**
   * A new value, and a rolling restart (under their update policy) of every service using it,
   * all in one transaction: new tasks read the new value, none is left reading the old for good.
   * The value it already has changes nothing and rolls nothing (`stack deploy` sends its files'
   * secrets on every deploy).
   */
  async update(name: string, value: Buffer): Promise<{ info: SecretInfo; rolled: string[] }> {
    this.checkSize(value);
    const cur = await this.read(name);
    const old = this.k.open(name, cur[this.field]!);
    if (old.length === value.length && timingSafeEqual(old, value)) return { info: fileInfo(cur), rolled: [] };
    const { items: services } = await this.store.list<Service>(keys.services);
    const users = services.filter((s) => servicesUsingFile([s], name, this.k.refs).length > 0);
    const now = new Date().toISOString();
    const next: StoredFile<Kept> = { name, size: value.length, createdAt: cur.createdAt, updatedAt: now, [this.field]: this.k.keep(name, value), ...(cur.labels ? { labels: cur.labels } : {}) };
    const ops: WriteOp[] = [{ type: 'put', key: this.key(name), value: next, version: cur.version! }];
    const prune: WriteOp[] = [];
    for (const svc of users) {
      const restarted: Service = { ...svc, metadata: { ...svc.metadata, updatedAt: now, restartedAt: now } };
      delete restarted.status;
      delete restarted.metadata.version;
      const w = await revisionWrite(this.store, svc, restarted, `${this.k.kind} ${name} updated`, now);
      ops.push({ type: 'put', key: keys.service(svc.metadata.name), value: restarted, version: svc.metadata.version! }, ...w.ops);
      prune.push(...w.prune);
    }
    if (ops.length > MAX_TXN_OPS) throw new ConflictError(this.key(name), `${this.k.kind} "${name}" is used by too many services to roll them in one change (${users.length})`);
    next.version = await this.store.txn(ops);
    await pruneRevisions(this.store, prune);
    return { info: fileInfo(next), rolled: users.map((s) => s.metadata.name) };
  }

  /** Refused while a service asks for it. */
  async remove(name: string): Promise<void> {
    const cur = await this.read(name);
    const { items: services } = await this.store.list<Service>(keys.services);
    const users = servicesUsingFile(services, name, this.k.refs);
    if (users.length) throw new ConflictError(this.key(name), `${this.k.kind} "${name}" is used by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from their specs first`);
    await this.store.delete(this.key(name), cur.version);
  }

  /** The names among `names` that do not exist. */
  async missing(names: readonly string[]): Promise<string[]> {
    const found = await Promise.all(names.map((n) => this.store.get(this.key(n))));
    return names.filter((_, i) => !found[i]);
  }

  /** Values, for the dispatcher only (sent to the node of a task that uses them). */
  async values(names: readonly string[]): Promise<{ name: string; data: Buffer }[]> {
    return Promise.all(names.map(async (name) => ({ name, data: (await this.value(name)).data })));
  }
}
