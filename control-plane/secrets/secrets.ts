// Secrets in the store: `secrets/<name>` holds the metadata and the sealed value (secret-box.ts);
// the verbs are file-store.ts's (shared with configs). Owns: the secrets' keys and kind, and the
// check that this server's key is the cluster's. Must not: put a value in an error, a log line or an answer.
import { ConflictError } from '../../common/errors.js';
import type { Service } from '../../common/types.js';
import type { Store } from '../store/store.js';
import { FileStore, servicesUsingFile, type FileKind } from './file-store.js';
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

const SECRET_KIND = (box: SecretBox): FileKind<SealedValue> => ({
  kind: 'secret',
  prefix: secretKeys.secrets,
  refs: (spec) => spec.secrets,
  keep: (name, value) => box.seal(name, value),
  open: (name, sealed) => box.open(name, sealed),
});

/** Services whose spec asks for secret `name`. */
export function servicesUsing(services: readonly Service[], name: string): string[] {
  return servicesUsingFile(services, name, (spec) => spec.secrets);
}

/** Secrets: sealed with the server's key (secret-box.ts) before they are stored; no value ever comes out but to the dispatcher. */
export class Secrets extends FileStore<SealedValue> {
  constructor(store: Store, box: SecretBox) {
    super(store, SECRET_KIND(box), 'sealed');
  }
}
