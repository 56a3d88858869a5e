// `berth server --restore FILE --passphrase-file FILE2`: a cluster brought back from a backup on
// an empty data dir. In two steps, so a refused restore writes nothing: `openRestore` reads and
// authenticates the whole file and checks the data dir is empty (no write yet); `writeRestoredFiles`
// then writes the CA, tokens and secrets key, and, once etcd runs, `loadRestoredKeys` writes the
// keys (into an empty prefix only).
//
// Owns: the restore's checks and writes. Must not: start anything.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import { CA_CERT_FILE } from '../pki/ca.js';
import type { Store } from '../store/store.js';
import { BackupError, openBackup, parsePassphrase, type BackupContent } from '../../common/backup.js';
import { OPTIONAL_FILES, REQUIRED_FILES } from './snapshot.js';

export interface RestoreSource {
  /** The backup file. */
  file: string;
  passphraseFile: string;
}

/** Reads, authenticates and checks a backup, and that `dataDir` is empty; writes nothing. */
export async function openRestore(src: RestoreSource, dataDir: string): Promise<BackupContent> {
  const entries = await readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new BackupError(`--data-dir ${dataDir}: cannot read it (${err.code ?? err.message})`);
  });
  if (entries.length) throw new BackupError(`--restore: the data dir ${dataDir} is not empty (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); restore into a new, empty data dir`);
  const passText = await readFile(src.passphraseFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new BackupError(`--passphrase-file ${src.passphraseFile}: cannot read it (${err.code ?? err.message})`);
  });
  const passphrase = parsePassphrase(passText, `--passphrase-file ${src.passphraseFile}`);
  const file = await readFile(src.file).catch((err: NodeJS.ErrnoException) => {
    throw new BackupError(`--restore ${src.file}: cannot read it (${err.code ?? err.message})`);
  });
  const content = await openBackup(file, passphrase, `--restore ${src.file}`);
  for (const name of REQUIRED_FILES) {
    if (typeof content.files[name] !== 'string') throw new BackupError(`--restore ${src.file}: it holds no ${name}`);
  }
  for (const kv of content.keys) {
    if (typeof kv.key !== 'string' || typeof kv.value !== 'string') throw new BackupError(`--restore ${src.file}: a key of it is malformed`);
  }
  return content;
}

/** Writes the backup's data dir files (the CA, tokens, secrets key) into the empty data dir. */
export async function writeRestoredFiles(content: BackupContent, dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  for (const name of [...REQUIRED_FILES, ...OPTIONAL_FILES]) {
    const text = content.files[name];
    if (text === undefined) continue;
    await (name === CA_CERT_FILE ? writePublicFile : writePrivateFile)(path.join(dataDir, name), text);
  }
}

/** Writes the backup's keys under the store's prefix, which must be empty. */
export async function loadRestoredKeys(store: Store, content: BackupContent): Promise<number> {
  if (!(await store.isEmpty())) throw new BackupError(`--restore: etcd already holds keys under ${store.prefix}; restore into an empty etcd (or another --etcd-prefix)`);
  await store.loadSnapshot(content.keys.map((kv) => ({ key: kv.key, value: Buffer.from(kv.value, 'base64') })));
  return content.keys.length;
}
