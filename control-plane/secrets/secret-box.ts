// The secrets key and its cipher: AES-256-GCM (node:crypto) with a 32-byte key kept in the
// server's data dir (`secrets.key`, mode 0600), never in etcd. Every server of a cluster needs
// the same key: it is copied with the CA when a server joins (see docs/workloads.md).
// Owns: the key file and encrypt/decrypt. Must not: log or return a value anywhere but to its caller.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../common/errors.js';

export const SECRETS_KEY_FILE = 'secrets.key';
const ALG = 'aes-256-gcm';

/** A value as stored in etcd: the ciphertext, never the value. */
export interface SealedValue {
  alg: typeof ALG;
  /** First 16 hex characters of the key's SHA-256: which key sealed it. */
  keyId: string;
  iv: string;
  data: string;
  tag: string;
}

export class SecretKeyError extends BerthError {
  constructor(message: string) {
    super(message, 'SECRET_KEY');
  }
}

export class SecretBox {
  readonly keyId: string;
  private constructor(private readonly key: Buffer) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /** Reads `<dataDir>/secrets.key`, creating it (random, mode 0600) on a cluster's first start. */
  static ensure(dataDir: string): SecretBox {
    const file = path.join(dataDir, SECRETS_KEY_FILE);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    return SecretBox.load(file);
  }

  static load(file: string): SecretBox {
    chmodSync(file, 0o600);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new SecretKeyError(`${file}: not a 32-byte base64 key`);
    return new SecretBox(key);
  }

  /** `name` is bound to the ciphertext (additional data): a value cannot be moved to another secret. */
  seal(name: string, value: Buffer): SealedValue {
    const iv = randomBytes(12);
    const cipher = createCipheriv(ALG, this.key, iv);
    cipher.setAAD(Buffer.from(name));
    const data = Buffer.concat([cipher.update(value), cipher.final()]);
    return { alg: ALG, keyId: this.keyId, iv: iv.toString('base64'), data: data.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  open(name: string, sealed: SealedValue): Buffer {
    if (sealed.keyId !== this.keyId) {
      throw new SecretKeyError(`secret "${name}" was sealed with key ${sealed.keyId}, this server has ${this.keyId}: copy ${SECRETS_KEY_FILE} from the first server`);
    }
    const decipher = createDecipheriv(ALG, this.key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]);
    } catch {
      throw new SecretKeyError(`secret "${name}" does not decrypt with this server's key (tampered, or another cluster's)`);
    }
  }
}
