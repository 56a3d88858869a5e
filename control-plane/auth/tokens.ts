// Cluster credentials: the admin token (for the API and CLI), the join token (for agents) and
// the manager token (for control planes joining this one). Join and manager tokens carry the
// cluster CA's digest (`BERTH-1-<digest>-<secret>`, common/pki/join-token.ts) so the one who
// joins can check the control plane before sending them. etcd keeps only their SHA-256 hashes,
// so every control-plane instance can verify them (and a rotated join token is refused at once
// everywhere); the tokens themselves live in files under the data dir, readable by root only.
// The server also writes a ready-to-use client config, `<data-dir>/berth.yaml`.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { ConflictError } from '../../common/errors.js';
import { formatJoinToken, parseJoinToken } from '../../common/pki/join-token.js';
import { keys } from '../store/keys.js';
import type { Store } from '../store/store.js';

interface StoredTokens {
  adminTokenSha256: string;
  joinTokenSha256: string;
  /** Absent in clusters made before manager tokens existed (added on their next start). */
  managerTokenSha256?: string;
  createdAt: string;
  joinTokenRotatedAt?: string;
  managerTokenRotatedAt?: string;
}

export const ADMIN_TOKEN_FILE = 'admin-token';
export const JOIN_TOKEN_FILE = 'join-token';
export const MANAGER_TOKEN_FILE = 'manager-token';
export const CLIENT_CONFIG_FILE = 'berth.yaml';

export class ClusterTokens {
  private constructor(
    private readonly store: Store,
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

  /** Checks against the join token's hash in etcd now: a rotated token is refused at once. */
  async verifyJoin(token: string | undefined): Promise<boolean> {
    if (!token) return false;
    const current = await this.store.get<StoredTokens>(keys.clusterTokens);
    return !!current && matches(token, current.joinTokenSha256);
  }

  /** Checks against the manager token's hash in etcd now (a rotation takes effect at once). */
  async verifyManager(token: string | undefined): Promise<boolean> {
    if (!token) return false;
    const current = await this.store.get<StoredTokens>(keys.clusterTokens);
    return !!current?.managerTokenSha256 && matches(token, current.managerTokenSha256);
  }

  /**
   * Loads the cluster's tokens, creating them on the cluster's first start. Files in `dataDir`
   * that do not match the hashes in etcd (another cluster's) are ignored with a warning.
   */
  static async ensure(store: Store, dataDir: string, log: Logger, caDigest: string): Promise<ClusterTokens> {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    let stored = await store.get<StoredTokens>(keys.clusterTokens);
    if (!stored) {
      const admin = newToken('adm');
      const join = newCaPinnedToken(caDigest);
      const manager = newCaPinnedToken(caDigest);
      const fresh: StoredTokens = {
        adminTokenSha256: sha256(admin),
        joinTokenSha256: sha256(join),
        managerTokenSha256: sha256(manager),
        createdAt: new Date().toISOString(),
      };
      try {
        // Files first: a crash between the two steps leaves unused files, never unknown tokens.
        await writeSecret(path.join(dataDir, ADMIN_TOKEN_FILE), admin);
        await writeSecret(path.join(dataDir, JOIN_TOKEN_FILE), join);
        await writeSecret(path.join(dataDir, MANAGER_TOKEN_FILE), manager);
        await store.create(keys.clusterTokens, fresh);
        log.info({ dataDir }, 'generated cluster admin, join and manager tokens');
        return new ClusterTokens(store, fresh, admin, join);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        stored = await store.get<StoredTokens>(keys.clusterTokens);
        if (!stored) throw err;
      }
    }
    if (!stored.managerTokenSha256) stored = await addManagerToken(store, stored, dataDir, caDigest, log);
    const admin = await readSecret(path.join(dataDir, ADMIN_TOKEN_FILE));
    let join = await readSecret(path.join(dataDir, JOIN_TOKEN_FILE));
    const adminOk = admin !== undefined && matches(admin, stored.adminTokenSha256);
    let joinOk = join !== undefined && matches(join, stored.joinTokenSha256);
    if (joinOk && parseJoinToken(join!)?.caDigest !== caDigest) {
      // A token of an older release, or of a CA made again: agents would refuse it. Replaced.
      join = await rotateJoinToken(store, dataDir, caDigest);
      stored = (await store.get<StoredTokens>(keys.clusterTokens)) ?? stored;
      joinOk = true;
      log.warn({ dataDir }, 'the join token did not name this cluster\'s CA: made a new one (join-token); nodes that joined are not affected');
    }
    if (!adminOk || !joinOk) {
      log.warn({ dataDir }, 'this data dir does not hold the cluster tokens; copy admin-token and join-token from the first server to use them here');
    }
    return new ClusterTokens(store, stored, adminOk ? admin : undefined, joinOk ? join : undefined);
  }

  /**
   * Writes `<data-dir>/berth.yaml` (server URL, admin token, the cluster CA) for the CLI; with
   * `otherUrls` (the other servers' API URLs), `servers:` lists them all, this one first.
   */
  async writeClientConfig(dataDir: string, serverUrl: string, caCertPem?: string, otherUrls: string[] = []): Promise<string | undefined> {
    if (!this.adminToken) return undefined;
    const file = path.join(dataDir, CLIENT_CONFIG_FILE);
    // The CA as kubeconfig carries it: the client verifies the API's certificate with it.
    const ca = caCertPem ? { 'certificate-authority-data': Buffer.from(caCertPem).toString('base64') } : {};
    const others = otherUrls.filter((u) => u !== serverUrl);
    const servers = others.length ? { servers: [serverUrl, ...others] } : {};
    await writeSecret(file, stringify({ server: serverUrl, ...servers, token: this.adminToken, ...ca }));
    return file;
  }
}

/**
 * Replaces the join token: a new one (with the CA digest `caDigest`) whose hash is written to
 * etcd, so the old one is refused from now on, and to `<dataDir>/join-token`. Nodes that joined
 * keep their certificates. Returns the new token (the caller shows it once; never log it).
 */
export function rotateJoinToken(store: Store, dataDir: string, caDigest: string): Promise<string> {
  return rotateToken(store, dataDir, caDigest, 'join');
}

/** Replaces the join or the manager token (`<dataDir>/join-token` or `manager-token`). */
export async function rotateToken(store: Store, dataDir: string, caDigest: string, kind: 'join' | 'manager'): Promise<string> {
  const token = newCaPinnedToken(caDigest);
  const now = new Date().toISOString();
  for (let attempt = 1; ; attempt++) {
    const stored = await store.get<StoredTokens & { version?: number }>(keys.clusterTokens);
    if (!stored) throw new Error('the cluster has no tokens yet');
    const { version, ...rest } = stored;
    const next: StoredTokens =
      kind === 'join' ? { ...rest, joinTokenSha256: sha256(token), joinTokenRotatedAt: now } : { ...rest, managerTokenSha256: sha256(token), managerTokenRotatedAt: now };
    try {
      await store.put(keys.clusterTokens, next, version);
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 5) throw err;
    }
  }
  await writeSecret(path.join(dataDir, kind === 'join' ? JOIN_TOKEN_FILE : MANAGER_TOKEN_FILE), token);
  return token;
}

/** An older cluster's tokens get a manager token (its file in this data dir). */
async function addManagerToken(store: Store, stored: StoredTokens & { version?: number }, dataDir: string, caDigest: string, log: Logger): Promise<StoredTokens> {
  const manager = newCaPinnedToken(caDigest);
  const { version, ...rest } = stored;
  const next: StoredTokens = { ...rest, managerTokenSha256: sha256(manager) };
  try {
    await writeSecret(path.join(dataDir, MANAGER_TOKEN_FILE), manager);
    await store.put(keys.clusterTokens, next, version);
    log.info({ dataDir }, 'generated the cluster manager token');
    return next;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    return (await store.get<StoredTokens>(keys.clusterTokens)) ?? stored;
  }
}

function newCaPinnedToken(caDigest: string): string {
  return formatJoinToken(caDigest, randomBytes(24).toString('base64url'));
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

export async function readSecret(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}
