// Credentials of private registries: `registries/<host>` holds the host, the user and the password
// sealed with the secrets key (secret-box.ts), as any secret. `berth registry login|logout|ls`.
// Owns: storing, forgetting and listing them (host and user only), and the credentials of one
// host for the dispatcher. Must not: put a password in an answer, an error or a log line.
import { NotFoundError } from '../../common/errors.js';
import type { RegistryInfo } from '../../common/types.js';
import type { Store } from '../store/store.js';
import type { SealedValue, SecretBox } from './secret-box.js';

export const registryKeys = {
  registries: 'registries/',
  registry: (host: string) => `registries/${host}`,
} as const;

interface StoredRegistry extends RegistryInfo {
  sealed: SealedValue;
}

/** The name a registry's password is sealed under (bound to its host). */
const sealName = (host: string) => `registry/${host}`;

const info = (r: StoredRegistry): RegistryInfo => ({ host: r.host, username: r.username, createdAt: r.createdAt, updatedAt: r.updatedAt });

export class Registries {
  constructor(
    private readonly store: Store,
    private readonly box: SecretBox,
  ) {}

  async list(): Promise<RegistryInfo[]> {
    const { items } = await this.store.list<StoredRegistry>(registryKeys.registries);
    return items.map(info).sort((a, b) => a.host.localeCompare(b.host));
  }

  /** Stores (or replaces) the credentials of `host`. */
  async login(host: string, username: string, password: Buffer): Promise<RegistryInfo> {
    const cur = await this.store.get<StoredRegistry>(registryKeys.registry(host));
    const now = new Date().toISOString();
    const next: StoredRegistry = { host, username, createdAt: cur?.createdAt ?? now, updatedAt: now, sealed: this.box.seal(sealName(host), password) };
    await this.store.put(registryKeys.registry(host), next);
    return info(next);
  }

  async logout(host: string): Promise<void> {
    const cur = await this.store.get<StoredRegistry>(registryKeys.registry(host));
    if (!cur) throw new NotFoundError('registry', host);
    await this.store.delete(registryKeys.registry(host));
  }

  /** The credentials of `host`, for the dispatcher only (to the node of a task pulling from it). */
  async credentials(host: string): Promise<{ username: string; password: string } | undefined> {
    const r = await this.store.get<StoredRegistry>(registryKeys.registry(host));
    if (!r) return undefined;
    return { username: r.username, password: this.box.open(sealName(host), r.sealed).toString('utf8') };
  }
}
