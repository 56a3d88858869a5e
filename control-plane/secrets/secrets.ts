// Secrets in the store: `secrets/<name>` holds the metadata and the sealed value (secret-box.ts).
// Owns: create, update (which rolls the services using the secret, in the same transaction),
// remove (refused while a service uses it), list (metadata only), and reading the values of one
// task's secrets for the dispatcher. Must not: put a value in an error, a log line or an answer.
import { timingSafeEqual } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../../common/errors.js';
import type { SecretInfo, Service } from '../../common/types.js';
import { MAX_SECRET_BYTES } from '../../common/workloads.js';
import { keys } from '../store/keys.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import { pruneRevisions, revisionWrite } from '../rollout/revisions.js';
import type { SealedValue, SecretBox } from './secret-box.js';

export const secretKeys = {
  secrets: 'secrets/',
  secret: (name: string) => `secrets/${name}`,
  /** The id (not the key) of the cluster's secrets key: servers with another key serve no secrets. */
  keyId: 'cluster/secrets-key-id',
} as const;

/**
 * Whether this server's key is the cluster's: the first server records its key's id; a server
 * with another key (its data dir lacks the first server's secrets.key) gets the reason back.
 */
export async function checkClusterKey(store: Store, box: SecretBox): Promise<string | undefined> {
  const recorded = await store.get<{ keyId: string }>(secretKeys.keyId);
  if (!recorded) {
    try {
      await store.create(secretKeys.keyId, { keyId: box.keyId });
      return undefined;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return checkClusterKey(store, box);
    }
  }
  if (recorded.keyId === box.keyId) return undefined;
  return `this server's secrets.key (id ${box.keyId}) is not the cluster's (id ${recorded.keyId}): copy secrets.key from the first server's data dir, then restart; secrets are not served until then`;
}

interface StoredSecret {
  name: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  sealed: SealedValue;
  /** Free-form labels (`berth.stack` on the secrets a stack created). */
  labels?: Record<string, string>;
  version?: number;
}

function info(s: StoredSecret): SecretInfo {
  return {
    name: s.name,
    size: s.size,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    ...(s.labels && Object.keys(s.labels).length ? { labels: s.labels } : {}),
    ...(s.version !== undefined ? { version: s.version } : {}),
  };
}

function checkSize(value: Buffer): void {
  if (value.length > MAX_SECRET_BYTES) {
    throw new ValidationError([{ path: 'value', reason: `secret is ${value.length} bytes; at most ${MAX_SECRET_BYTES} are allowed`, source: '' }]);
  }
}

/** Services whose spec asks for secret `name`. */
export function servicesUsing(services: readonly Service[], name: string): string[] {
  return services.filter((s) => (s.spec.secrets ?? []).some((r) => r.source === name)).map((s) => s.metadata.name);
}

export class Secrets {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
  ) {}

  async list(): Promise<SecretInfo[]> {
    const { items } = await this.store.list<StoredSecret>(secretKeys.secrets);
    return items.map(info).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<SecretInfo> {
    const s = await this.store.get<StoredSecret>(secretKeys.secret(name));
    if (!s) throw new NotFoundError('secret', name);
    return info(s);
  }

  async create(name: string, value: Buffer, labels?: Record<string, string>): Promise<SecretInfo> {
    checkSize(value);
    const now = new Date().toISOString();
    const s: StoredSecret = { name, size: value.length, createdAt: now, updatedAt: now, sealed: this.box.seal(name, value), ...(labels && Object.keys(labels).length ? { labels } : {}) };
    try {
      s.version = await this.store.create(secretKeys.secret(name), s);
    } catch (err) {
      if (err instanceof ConflictError) throw new ConflictError(secretKeys.secret(name), `secret "${name}" already exists (use berth secret update)`);
      throw err;
    }
    return info(s);
  }

  /**
   * A new value, and a rolling restart (under their update policy) of every service using it,
   * all in one transaction: new tasks read the new value, none is left reading the old for good.
   * The value it already has changes nothing and rolls nothing (`stack deploy` sends its files'
   * secrets on every deploy).
   */
  async update(name: string, value: Buffer): Promise<{ secret: SecretInfo; rolled: string[] }> {
    checkSize(value);
    const cur = await this.store.get<StoredSecret>(secretKeys.secret(name));
    if (!cur) throw new NotFoundError('secret', name);
    const old = this.box.open(name, cur.sealed);
    if (old.length === value.length && timingSafeEqual(old, value)) return { secret: info(cur), rolled: [] };
    const { items: services } = await this.store.list<Service>(keys.services);
    const users = services.filter((s) => servicesUsing([s], name).length > 0);
    const now = new Date().toISOString();
    const next: StoredSecret = { name, size: value.length, createdAt: cur.createdAt, updatedAt: now, sealed: this.box.seal(name, value), ...(cur.labels ? { labels: cur.labels } : {}) };
    const ops: WriteOp[] = [{ type: 'put', key: secretKeys.secret(name), value: next, version: cur.version! }];
    const prune: WriteOp[] = [];
    for (const svc of users) {
      const restarted: Service = { ...svc, metadata: { ...svc.metadata, updatedAt: now, restartedAt: now } };
      delete restarted.status;
      delete restarted.metadata.version;
      const w = await revisionWrite(this.store, svc, restarted, `secret ${name} updated`, now);
      ops.push({ type: 'put', key: keys.service(svc.metadata.name), value: restarted, version: svc.metadata.version! }, ...w.ops);
      prune.push(...w.prune);
    }
    if (ops.length > MAX_TXN_OPS) throw new ConflictError(secretKeys.secret(name), `secret "${name}" is used by too many services to roll them in one change (${users.length})`);
    next.version = await this.store.txn(ops);
    await pruneRevisions(this.store, prune);
    return { secret: info(next), rolled: users.map((s) => s.metadata.name) };
  }

  /** Refused while a service asks for it (the check and the delete are one transaction on the services read). */
  async remove(name: string): Promise<void> {
    const cur = await this.store.get<StoredSecret>(secretKeys.secret(name));
    if (!cur) throw new NotFoundError('secret', name);
    const { items: services } = await this.store.list<Service>(keys.services);
    const users = servicesUsing(services, name);
    if (users.length) throw new ConflictError(secretKeys.secret(name), `secret "${name}" is used by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from their specs first`);
    await this.store.delete(secretKeys.secret(name), cur.version);
  }

  /** The names among `names` that are not secrets of the cluster. */
  async missing(names: readonly string[]): Promise<string[]> {
    const found = await Promise.all(names.map((n) => this.store.get<StoredSecret>(secretKeys.secret(n))));
    return names.filter((_, i) => !found[i]);
  }

  /** Decrypted values, for the dispatcher only (sent to the node of a task that uses them). */
  async values(names: readonly string[]): Promise<{ name: string; data: Buffer }[]> {
    return Promise.all(
      names.map(async (name) => {
        const s = await this.store.get<StoredSecret>(secretKeys.secret(name));
        if (!s) throw new NotFoundError('secret', name);
        return { name, data: this.box.open(name, s.sealed) };
      }),
    );
  }
}
