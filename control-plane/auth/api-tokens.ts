// API tokens with roles: created by an admin (`berth token create`), kept in etcd as
// `apitokens/<name>` (name, role, SHA-256 of the token, createdAt, expiresAt, lastUsedAt; never
// the token), checked on every API call. The cluster's admin token (control-plane/auth/tokens.ts)
// is the built-in token `admin` with role admin: listed, never stored here, never revoked.
//
// Owns: creating, listing and revoking tokens, and answering "who is this token" without an
// etcd round trip per call: an informer keeps every token in memory by hash; a token not found
// there is looked up in etcd once (a token created through another API server a moment ago),
// with concurrent look-ups sharing one read. lastUsedAt is written at most once a minute per token,
// for calls its role allows (a refused call writes nothing).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { BUILTIN_ADMIN_TOKEN, Role, type ApiTokenInfo, type CreatedApiToken } from '../../common/access.js';
import { ConflictError, errorMessage, NotFoundError } from '../../common/errors.js';
import { Informer } from '../store/informer.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { sha256 } from './tokens.js';

export const API_TOKENS_PREFIX = 'apitokens/';
export const apiTokenKey = (name: string) => `${API_TOKENS_PREFIX}${name}`;

/** lastUsedAt is written at most this often per token. */
export const LAST_USED_EVERY_MS = 60_000;

/** What etcd keeps of a token. */
export interface StoredApiToken {
  name: string;
  role: Role;
  /** SHA-256 (hex) of the token. */
  sha256: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
  version?: number;
}

/** Who made a call: a token's name and role. */
export interface Caller {
  token: string;
  role: Role;
}

/** Why a token was not accepted (answered 401). */
export interface Unauthenticated {
  message: string;
}

export interface ApiTokensOptions {
  store: Store;
  logger: Logger;
  /** Whether `token` is the cluster's admin token. */
  verifyAdmin(token: string | undefined): boolean;
  now?: () => number;
}

export class ApiTokens {
  private readonly informer: Informer<StoredApiToken>;
  private byHash = new Map<string, StoredApiToken>();
  private byName = new Map<string, StoredApiToken>();
  /** Tokens created or revoked here, ahead of the informer (which catches up within moments). */
  private readonly local = new Map<string, StoredApiToken | 'revoked'>();
  private missRead: Promise<void> | undefined;
  private readonly lastUsedWritten = new Map<string, number>();
  /** The built-in admin token's last use (in memory: its record is tokens.ts's, never written here). */
  private adminLastUsed: number | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: ApiTokensOptions) {
    this.log = opts.logger.child({ component: 'api-tokens' });
    this.now = opts.now ?? Date.now;
    this.informer = new Informer<StoredApiToken>({
      store: opts.store,
      prefix: API_TOKENS_PREFIX,
      logger: opts.logger,
      onEvent: (ev) => {
        if (ev.type === 'put') this.local.delete(ev.value.name);
        else this.local.delete(ev.previous.name);
        this.reindex();
      },
    });
  }

  start(): Promise<void> {
    this.informer.start();
    return this.informer.synced.then(() => this.reindex());
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  /** The caller a bearer token stands for, or why it is refused. */
  async authenticate(token: string | undefined): Promise<Caller | Unauthenticated> {
    if (this.opts.verifyAdmin(token)) return { token: BUILTIN_ADMIN_TOKEN, role: Role.Admin };
    if (!token) return { message: 'missing bearer token' };
    const hash = sha256(token);
    let rec = this.byHash.get(hash);
    if (!rec) {
      await this.readMissing();
      rec = this.byHash.get(hash);
    }
    if (!rec) return { message: 'invalid token (unknown or revoked)' };
    if (rec.expiresAt && Date.parse(rec.expiresAt) <= this.now()) return { message: `token "${rec.name}" expired at ${rec.expiresAt}` };
    return { token: rec.name, role: rec.role };
  }

  /** Records a use of the caller's token (a call its role allowed), at most once a minute. */
  used(caller: Caller): void {
    if (caller.token === BUILTIN_ADMIN_TOKEN) {
      this.adminLastUsed = this.now();
      return;
    }
    const rec = this.byName.get(caller.token);
    if (rec) this.touch(rec);
  }

  async create(name: string, role: Role, ttlSeconds?: number): Promise<CreatedApiToken> {
    if (name === BUILTIN_ADMIN_TOKEN) throw new ConflictError(apiTokenKey(name), `token name "${name}" is the built-in admin token's`);
    const token = `berth-api-${randomBytes(24).toString('base64url')}`;
    const now = this.now();
    const rec: StoredApiToken = {
      name,
      role,
      sha256: sha256(token),
      createdAt: new Date(now).toISOString(),
      ...(ttlSeconds !== undefined ? { expiresAt: new Date(now + ttlSeconds * 1000).toISOString() } : {}),
    };
    try {
      rec.version = await this.opts.store.create(apiTokenKey(name), rec);
    } catch (err) {
      if (err instanceof ConflictError) throw new ConflictError(apiTokenKey(name), `token "${name}" already exists (revoke it first to replace it)`);
      throw err;
    }
    this.local.set(name, rec);
    this.reindex();
    this.log.info({ token: name, role, expiresAt: rec.expiresAt }, 'API token created');
    return { ...info(rec), token };
  }

  async revoke(name: string): Promise<void> {
    if (name === BUILTIN_ADMIN_TOKEN) throw new ConflictError(apiTokenKey(name), 'the built-in admin token cannot be revoked');
    const cur = await this.opts.store.get<StoredApiToken>(apiTokenKey(name));
    if (!cur) throw new NotFoundError('token', name);
    await this.opts.store.delete(apiTokenKey(name));
    this.local.set(name, 'revoked');
    this.reindex();
    this.log.info({ token: name }, 'API token revoked');
  }

  /** Every token, the built-in admin first, then by name. */
  async list(): Promise<ApiTokenInfo[]> {
    const { items } = await this.opts.store.list<StoredApiToken>(API_TOKENS_PREFIX);
    const cluster = await this.opts.store.get<{ createdAt?: string }>(keys.clusterTokens);
    const admin: ApiTokenInfo = {
      name: BUILTIN_ADMIN_TOKEN,
      role: Role.Admin,
      createdAt: cluster?.createdAt ?? '',
      builtin: true,
      ...(this.adminLastUsed !== undefined ? { lastUsedAt: new Date(this.adminLastUsed).toISOString() } : {}),
    };
    return [admin, ...items.sort((a, b) => a.name.localeCompare(b.name)).map(info)];
  }

  private reindex(): void {
    const byName = new Map<string, StoredApiToken>();
    for (const rec of this.informer.cache.values()) byName.set(rec.name, rec);
    for (const [name, rec] of this.local) {
      if (rec === 'revoked') byName.delete(name);
      else byName.set(name, rec);
    }
    this.byName = byName;
    this.byHash = new Map([...byName.values()].map((r) => [r.sha256, r]));
  }

  /** One read of every token for the look-ups that missed meanwhile (tokens are few). */
  private readMissing(): Promise<void> {
    this.missRead ??= (async () => {
      try {
        await this.informer.synced;
        const { items } = await this.opts.store.list<StoredApiToken>(API_TOKENS_PREFIX);
        for (const rec of items) {
          const known = this.local.get(rec.name);
          if (known === 'revoked') continue;
          if (!this.informer.cache.has(apiTokenKey(rec.name))) this.local.set(rec.name, rec);
        }
        this.reindex();
      } finally {
        this.missRead = undefined;
      }
    })();
    return this.missRead;
  }

  /** Records the token's use, at most once a minute; a lost write only costs the timestamp. */
  private touch(rec: StoredApiToken): void {
    const now = this.now();
    const last = Math.max(this.lastUsedWritten.get(rec.name) ?? 0, rec.lastUsedAt ? Date.parse(rec.lastUsedAt) : 0);
    if (now - last < LAST_USED_EVERY_MS) return;
    this.lastUsedWritten.set(rec.name, now);
    const { version, ...stored } = rec;
    // Conditional on the version read: a token revoked meanwhile is not written back.
    this.opts.store.put(apiTokenKey(rec.name), { ...stored, lastUsedAt: new Date(now).toISOString() }, version).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) this.log.debug({ token: rec.name, err: errorMessage(err) }, 'lastUsedAt not written');
    });
  }
}

function info(rec: StoredApiToken): ApiTokenInfo {
  return {
    name: rec.name,
    role: rec.role,
    createdAt: rec.createdAt,
    ...(rec.expiresAt ? { expiresAt: rec.expiresAt } : {}),
    ...(rec.lastUsedAt ? { lastUsedAt: rec.lastUsedAt } : {}),
  };
}
