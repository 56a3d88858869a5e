// Scheduled backups (`berth server --backup-every 6h --backup-dir DIR --backup-keep 10`): every
// interval the server writes a sealed backup to DIR (`berth-backup-<UTC time>.bbk`, mode 0600,
// through a temporary file renamed into place) and deletes the oldest beyond `keep`.
//
// Owns: the timer, the file names, the pruning. Must not: keep the backup's content in clear.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { Store } from '../store/store.js';
import { writeBackup } from './snapshot.js';

export interface BackupScheduleOptions {
  store: Store;
  dataDir: string;
  passphrase: string;
  everyMs: number;
  dir: string;
  keep: number;
  logger: Logger;
}

const NAME = /^berth-backup-\d{8}T\d{6}Z\.bbk$/;

export function backupFileName(at: Date): string {
  return `berth-backup-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.bbk`;
}

export class BackupSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: BackupScheduleOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.runOnce().then(() => undefined, () => undefined));
    }, this.opts.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Writes one backup and prunes; returns its path. Errors are logged and thrown. */
  async runOnce(now = new Date()): Promise<string> {
    const { dir, logger: log } = this.opts;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, backupFileName(now));
      const sealed = await writeBackup(this.opts.store, this.opts.dataDir, this.opts.passphrase);
      const tmp = `${file}.tmp`;
      await writeFile(tmp, sealed, { mode: 0o600 });
      await rename(tmp, file);
      const old = (await readdir(dir)).filter((f) => NAME.test(f)).sort().reverse().slice(this.opts.keep);
      for (const f of old) await rm(path.join(dir, f), { force: true });
      log.info({ file, bytes: sealed.length, pruned: old.length }, 'backup written');
      return file;
    } catch (err) {
      log.error({ dir, err: errorMessage(err) }, 'scheduled backup failed');
      throw err;
    }
  }
}
