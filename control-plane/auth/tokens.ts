// Cluster credentials: the admin token (for the API and CLI) and the join token (for agents).
// etcd keeps only their SHA-256 hashes, so every control-plane instance can verify them; the
// tokens themselves live in files under the data dir, readable by root only. The server also
// writes a ready-to-use client config, `<data-dir>/berth.yaml`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { ConflictError } from '../../common/errors.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

interface StoredTokens {
  adminTokenSha256: string;
  joinTokenSha256: string;
  createdAt: string;
}

export const ADMIN_TOKEN_FILE = 'admin-token';
export const JOIN_TOKEN_FILE = 'join-token';
export const CLIENT_CONFIG_FILE = 'berth.yaml';

export class ClusterTokens {
  private constructor(
    private readonly hashes: StoredTokens,
    /** The plain tokens when this data dir holds them (always, for the server that made them). */
    readonly adminToken: string | undefined,
    readonly joinToken: string | undefined,
  ) {}

  verifyAdmin(token: string | undefined): boolean {
    return matches(token, this.hashes.adminTokenSha256);
  }

  /** What checks admin tokens elsewhere (the API's thread) without the tokens themselves. */
  get adminTokenSha256(): string {
    return this.hashes.adminTokenSha256;
  }

  verifyJoin(token: string | undefined): boolean {
    return matches(token, this.hashes.joinTokenSha256);
  }

  /**
   * Loads the cluster's tokens, creating them on the cluster's first start. Files in `dataDir`
   * that do not match the hashes in etcd (another cluster's) are ignored with a warning.
   */
  static async ensure(store: Store, dataDir: string, log: Logger): Promise<ClusterTokens> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    let stored = await store.get<StoredTokens>(keys.clusterTokens);
    if (!stored) {
      const admin = newToken('adm');
      const join = newToken('join');
      const fresh: StoredTokens = { adminTokenSha256: sha256(admin), joinTokenSha256: sha256(join), createdAt: new Date().toISOString() };
      try {
        // Files first: a crash between the two steps leaves unused files, never unknown tokens.
        await writeSecret(path.join(dataDir, ADMIN_TOKEN_FILE), admin);
        await writeSecret(path.join(dataDir, JOIN_TOKEN_FILE), join);
        await store.create(keys.clusterTokens, fresh);
        log.info({ dataDir }, 'generated cluster admin and join tokens');
        return new ClusterTokens(fresh, admin, join);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        stored = await store.get<StoredTokens>(keys.clusterTokens);
        if (!stored) throw err;
      }
    }
    const admin = await readSecret(path.join(dataDir, ADMIN_TOKEN_FILE));
    const join = await readSecret(path.join(dataDir, JOIN_TOKEN_FILE));
    const adminOk = admin !== undefined && matches(admin, stored.adminTokenSha256);
    const joinOk = join !== undefined && matches(join, stored.joinTokenSha256);
    if (!adminOk || !joinOk) {
      log.warn({ dataDir }, 'this data dir does not hold the cluster tokens; copy admin-token and join-token from the first server to use them here');
    }
    return new ClusterTokens(stored, adminOk ? admin : undefined, joinOk ? join : undefined);
  }

  /** Writes `<data-dir>/berth.yaml` (server URL + admin token) for the CLI. */
  async writeClientConfig(dataDir: string, serverUrl: string): Promise<string | undefined> {
    if (!this.adminToken) return undefined;
    const file = path.join(dataDir, CLIENT_CONFIG_FILE);
    await writeSecret(file, stringify({ server: serverUrl, token: this.adminToken }));
    return file;
  }
}

function newToken(kind: string): string {
  return `berth-${kind}-${randomBytes(24).toString('base64url')}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Whether `token` is the one whose SHA-256 is `hash` (hex), in constant time. */
export function matches(token: string | undefined, hash: string): boolean {
  if (!token) return false;
  const a = Buffer.from(sha256(token), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

async function writeSecret(file: string, content: string): Promise<void> {
  await writeFile(file, content.endsWith('\n') ? content : `${content}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // writeFile's mode does not apply to an existing file
}

async function readSecret(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}
