// The backup file: what a restore needs (Berth's etcd keys read at one revision, the CA, the
// tokens, the secrets key), compressed, then encrypted with a key derived from a passphrase.
//
// Layout (version 1):
//   magic "BERTHBAK" (8) | format version (1) | log2 of scrypt's N (1) | scrypt r (1) | p (1)
//   | salt (16) | IV (12) | ciphertext (gzip of the JSON content) | GCM tag (16)
// The 40 header bytes are the additional data of AES-256-GCM, so a changed header, ciphertext or
// tag, a truncated file and a wrong passphrase all fail the tag check: nothing is trusted, and
// nothing is read out of the content, before the whole file has been authenticated.
//
// Owns: the format, sealing and opening (the server seals, `berth server --restore` opens, the
// CLI checks a passphrase before sending it). Must not: write files or talk to etcd.
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BerthError } from './errors.js';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number, options: ScryptOptions) => Promise<Buffer>;

export const BACKUP_MAGIC = Buffer.from('BERTHBAK');
export const BACKUP_FORMAT_VERSION = 1;
const HEADER_LENGTH = BACKUP_MAGIC.length + 4 + 16 + 12;
const TAG_LENGTH = 16;
/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, a fraction of a second). */
const DEFAULT_COST = { log2N: 15, r: 8, p: 1 };
/** Shorter passphrases are refused when a backup is written. */
export const MIN_PASSPHRASE_LENGTH = 12;

/** One etcd key under the cluster's prefix (relative to it) and its value, base64. */
export interface BackupKey {
  key: string;
  value: string;
}

/** What a backup holds once opened. */
export interface BackupContent {
  /** The content's own layout version. */
  format: 1;
  createdAt: string;
  /** The Berth version that wrote it. */
  berthVersion: string;
  /** The etcd revision every key was read at. */
  revision: number;
  /** The prefix the keys were under (a restore writes them under its own --etcd-prefix). */
  etcdPrefix: string;
  /** Data dir files by name (ca.crt, ca.key, secrets.key, admin-token, join-token, manager-token). */
  files: Record<string, string>;
  keys: BackupKey[];
}

export class BackupError extends BerthError {
  constructor(message: string) {
    super(message, 'BACKUP');
  }
}

/** The passphrase as read from a file or standard input: one line, its line ending dropped. */
export function parsePassphrase(text: string, source: string): string {
  const passphrase = text.replace(/\r?\n$/, '');
  if (!passphrase) throw new BackupError(`${source}: the passphrase is empty`);
  if (passphrase.includes('\n')) throw new BackupError(`${source}: the passphrase must be one line`);
  return passphrase;
}

export function checkPassphraseStrength(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) throw new BackupError(`passphrase: must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
}

export async function sealBackup(content: BackupContent, passphrase: string, cost = DEFAULT_COST): Promise<Buffer> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const header = Buffer.concat([BACKUP_MAGIC, Buffer.from([BACKUP_FORMAT_VERSION, cost.log2N, cost.r, cost.p]), salt, iv]);
  const key = await deriveKey(passphrase, salt, cost);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(header);
  const data = Buffer.concat([cipher.update(gzipSync(Buffer.from(JSON.stringify(content)))), cipher.final()]);
  return Buffer.concat([header, data, cipher.getAuthTag()]);
}

/** Opens a backup; throws a BackupError saying what is wrong (never anything of its content). */
export async function openBackup(file: Buffer, passphrase: string, source = 'the backup'): Promise<BackupContent> {
  if (file.length < BACKUP_MAGIC.length || !file.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) {
    throw new BackupError(`${source}: not a Berth backup (it does not start with ${BACKUP_MAGIC.toString()})`);
  }
  const version = file[BACKUP_MAGIC.length]!;
  if (version !== BACKUP_FORMAT_VERSION) throw new BackupError(`${source}: backup format ${version} is not known to this version of Berth (it reads format ${BACKUP_FORMAT_VERSION})`);
  if (file.length < HEADER_LENGTH + TAG_LENGTH) throw new BackupError(`${source}: truncated (${file.length} bytes)`);
  const [log2N, r, p] = [file[BACKUP_MAGIC.length + 1]!, file[BACKUP_MAGIC.length + 2]!, file[BACKUP_MAGIC.length + 3]!];
  if (log2N < 10 || log2N > 20 || r < 1 || r > 32 || p < 1 || p > 16) throw new BackupError(`${source}: damaged (its header's key parameters are out of range)`);
  const header = file.subarray(0, HEADER_LENGTH);
  const salt = header.subarray(BACKUP_MAGIC.length + 4, BACKUP_MAGIC.length + 20);
  const iv = header.subarray(BACKUP_MAGIC.length + 20);
  const key = await deriveKey(passphrase, salt, { log2N, r, p });
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(header);
  decipher.setAuthTag(file.subarray(file.length - TAG_LENGTH));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(file.subarray(HEADER_LENGTH, file.length - TAG_LENGTH)), decipher.final()]);
  } catch {
    throw new BackupError(`${source}: wrong passphrase, or the file is damaged or truncated (it does not authenticate)`);
  }
  let content: BackupContent;
  try {
    content = JSON.parse(gunzipSync(plain).toString('utf8')) as BackupContent;
  } catch {
    throw new BackupError(`${source}: damaged (it authenticates but its content does not read)`);
  }
  if (content.format !== 1 || !Array.isArray(content.keys) || typeof content.files !== 'object' || content.files === null) {
    throw new BackupError(`${source}: its content is not a backup this version of Berth reads`);
  }
  return content;
}

function deriveKey(passphrase: string, salt: Buffer, cost: { log2N: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  return scrypt(passphrase.normalize('NFC'), salt, 32, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r + 16 * 1024 * 1024 });
}
