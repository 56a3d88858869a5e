// Taking a backup on a server: Berth's etcd keys read at one revision and the data dir files a
// restore needs, sealed with the passphrase (archive.ts). The server does it, so the CA key, the
// tokens and the secrets key never leave it in clear: the API answers the sealed file only.
//
// Owns: what a backup holds. Must not: keep the passphrase or the content after the call.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { clientVersion } from '../../common/version.js';
import { ADMIN_TOKEN_FILE, JOIN_TOKEN_FILE, MANAGER_TOKEN_FILE } from '../auth/tokens.js';
import { CA_CERT_FILE, CA_KEY_FILE } from '../pki/ca.js';
import { SECRETS_KEY_FILE } from '../secrets/secret-box.js';
import type { Store } from '../store/store.js';
import { BackupError, checkPassphraseStrength, sealBackup, type BackupContent } from '../../common/backup.js';

/** Data dir files a restore needs: the first two must be there, the others are kept when present. */
export const REQUIRED_FILES = [CA_CERT_FILE, CA_KEY_FILE] as const;
export const OPTIONAL_FILES = [SECRETS_KEY_FILE, ADMIN_TOKEN_FILE, JOIN_TOKEN_FILE, MANAGER_TOKEN_FILE] as const;

/** The backup's content, in clear: only for sealing at once. */
export async function takeSnapshot(store: Store, dataDir: string): Promise<BackupContent> {
  const files: Record<string, string> = {};
  for (const name of REQUIRED_FILES) {
    try {
      files[name] = await readFile(path.join(dataDir, name), 'utf8');
    } catch {
      throw new BackupError(`this server's data dir has no ${name}: a backup needs the cluster CA (take it on a server that holds it)`);
    }
  }
  for (const name of OPTIONAL_FILES) {
    const text = await readFile(path.join(dataDir, name), 'utf8').catch(() => undefined);
    if (text !== undefined) files[name] = text;
  }
  const snap = await store.snapshot();
  return {
    format: 1,
    createdAt: new Date().toISOString(),
    berthVersion: clientVersion(),
    revision: snap.revision,
    etcdPrefix: store.prefix,
    files,
    keys: snap.keys.map((kv) => ({ key: kv.key, value: kv.value.toString('base64') })),
  };
}

/** A sealed backup of the cluster: the file `berth cluster backup` writes. */
export async function writeBackup(store: Store, dataDir: string, passphrase: string): Promise<Buffer> {
  checkPassphraseStrength(passphrase);
  return sealBackup(await takeSnapshot(store, dataDir), passphrase);
}
