// Configs in the store: `configs/<name>` holds the metadata and the value (base64; a config is
// not secret, so it is kept in the clear and can be read back with `berth config inspect`).
// The verbs are file-store.ts's, shared with secrets: update rolls the services using the config.
// Owns: the configs' keys and kind. Must not: send a value to a node whose tasks do not use it.
import type { Store } from '../store/store.js';
import { FileStore } from './file-store.js';
import type { SecretInfo } from '../../common/types.js';

export const configKeys = {
  configs: 'configs/',
  config: (name: string) => `configs/${name}`,
} as const;

export class Configs extends FileStore<string> {
  constructor(store: Store) {
    super(
      store,
      {
        kind: 'config',
        prefix: configKeys.configs,
        refs: (spec) => spec.configs,
        keep: (_name, value) => value.toString('base64'),
        open: (_name, data) => Buffer.from(data, 'base64'),
      },
      'data',
    );
  }

  /** A config with its value (base64): configs are not secret. */
  async inspect(name: string): Promise<SecretInfo & { value: string }> {
    const { file, data } = await this.value(name);
    return { ...(await this.get(name)), size: file.size, value: data.toString('base64') };
  }
}
