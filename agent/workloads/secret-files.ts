// Secret and config files of the tasks of this node: a tmpfs the agent mounts at
// `<data-dir>/secrets` (never written to disk), one directory per task (mode 0700) holding one
// file per secret, with the mode the spec asks (default 0400), and its configs under `.configs/`
// (default 0444); the docker driver bind-mounts each file read-only at its target. The
// credentials of the registry of a task's image come with them and go to the pull only. Values come from the control plane (GetTaskSecrets, over the node's mutual-TLS
// connection) just before the instance is created, and the task's directory is removed once it
// has ended; at start, directories of tasks without an instance are removed, and on stop the
// tmpfs is unmounted once no task uses it.
// Owns: that directory and its mount. Must not: log or report a value.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { SecretRef, Task } from '../../common/types.js';
import { configMode, imageRegistry, secretMode } from '../../common/workloads.js';
import type { RegistryAuth, SecretPaths } from '../driver/driver.js';
import type { TaskFiles } from '../worker/task-runner.js';

const run = promisify(execFile);
/** Size limit of the tmpfs holding every secret file of the node. */
const TMPFS_SIZE = '64m';

/** What the control plane sends for one task: its secrets, its configs, its registry's credentials. */
export interface TaskFileValues {
  secrets: { name: string; data: Buffer }[];
  configs: { name: string; data: Buffer }[];
  registryAuth?: RegistryAuth;
}
export type FetchSecrets = (taskId: string) => Promise<TaskFileValues>;

/** A task's configs sit beside its secrets, under a name no secret can have (names start with a letter or digit). */
const CONFIGS_SUBDIR = '.configs';

export class SecretFiles implements TaskFiles, SecretPaths {
  readonly root: string;
  private mounted: Promise<void> | undefined;

  constructor(
    dataDir: string,
    private readonly fetch: FetchSecrets,
    private readonly log: Logger,
  ) {
    this.root = path.join(path.resolve(dataDir), 'secrets');
  }

  fileOf(taskId: string, secret: string): string {
    return path.join(this.root, taskId, secret);
  }

  configFileOf(taskId: string, config: string): string {
    return path.join(this.root, taskId, CONFIGS_SUBDIR, config);
  }

  /** Whether a task needs anything of the control plane before it starts: files, or its registry's credentials. */
  needs(task: Task): boolean {
    return !!(task.spec.secrets?.length || task.spec.configs?.length || imageRegistry(task.spec.image));
  }

  async prepare(task: Task): Promise<RegistryAuth | undefined> {
    const secrets = task.spec.secrets ?? [];
    const configs = task.spec.configs ?? [];
    if (!secrets.length && !configs.length) {
      // Only credentials: without an answer the pull goes without them (a public image still
      // comes; a private one is refused by its registry, saying so).
      try {
        return (await this.fetch(task.id)).registryAuth;
      } catch (err) {
        this.log.warn({ task: task.name, err: errorMessage(err) }, 'registry credentials could not be had: pulling without');
        return undefined;
      }
    }
    await this.ensureMounted();
    const values = await this.fetch(task.id);
    const dir = path.join(this.root, task.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (configs.length) await mkdir(path.join(dir, CONFIGS_SUBDIR), { mode: 0o700 });
    const write = async (kind: string, refs: readonly SecretRef[], sent: TaskFileValues['secrets'], fileOf: (name: string) => string, mode: (r: SecretRef) => number) => {
      const byName = new Map(sent.map((v) => [v.name, v.data]));
      for (const ref of refs) {
        const data = byName.get(ref.source);
        if (!data) throw new Error(`${kind} "${ref.source}" was not sent by the control plane`);
        const file = fileOf(ref.source);
        await writeFile(file, data, { mode: 0o600 });
        await chmod(file, mode(ref));
      }
    };
    await write('secret', secrets, values.secrets, (n) => this.fileOf(task.id, n), secretMode);
    await write('config', configs, values.configs, (n) => this.configFileOf(task.id, n), configMode);
    this.log.info({ task: task.name, secrets: secrets.map((s) => s.source), configs: configs.map((s) => s.source) }, 'task files written (tmpfs)');
    return values.registryAuth;
  }

  async release(taskId: string): Promise<void> {
    try {
      await rm(path.join(this.root, taskId), { recursive: true, force: true });
    } catch (err) {
      this.log.warn({ taskId, err: errorMessage(err) }, 'removing secret files failed');
    }
  }

  async sweep(keep: readonly string[]): Promise<void> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    const kept = new Set(keep);
    for (const e of entries) if (!kept.has(e)) await this.release(e);
    if (entries.length && !entries.some((e) => kept.has(e))) await this.unmountIfUnused();
  }

  /** On agent stop: the tmpfs goes once no task has files on it (running tasks keep theirs). */
  async unmountIfUnused(): Promise<void> {
    if (!(await this.isMountpoint())) return;
    const entries = await readdir(this.root).catch(() => [] as string[]);
    if (entries.length) return;
    try {
      await run('umount', [this.root]);
      this.mounted = undefined;
      this.log.info({ dir: this.root }, 'secrets tmpfs unmounted');
    } catch (err) {
      this.log.warn({ dir: this.root, err: errorMessage(err) }, 'unmounting the secrets tmpfs failed');
    }
  }

  private ensureMounted(): Promise<void> {
    this.mounted ??= (async () => {
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      if (await this.isMountpoint()) return;
      try {
        await run('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700,nodev,nosuid,noexec`, 'tmpfs', this.root]);
      } catch (err) {
        throw new Error(`cannot mount a tmpfs for secrets at ${this.root} (the agent must run as root): ${errorMessage(err)}`);
      }
      this.log.info({ dir: this.root }, 'secrets tmpfs mounted');
    })().catch((err: unknown) => {
      this.mounted = undefined;
      throw err;
    });
    return this.mounted;
  }

  private async isMountpoint(): Promise<boolean> {
    const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    return info.split('\n').some((line) => line.split(' ')[4] === this.root);
  }
}
