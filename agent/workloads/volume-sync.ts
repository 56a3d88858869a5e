// The node's named volumes, reported to the control plane (SyncVolumes) every few seconds and
// whenever asked (after a task started), so `berth volume ls` lists them and the scheduler pins a
// service to the node its volume lives on. The answer names the volumes `berth volume rm` asked
// this node to remove: removed here (the Engine refuses one in use), the outcome sent next time.
// Owns: that loop. Must not: remove a volume nobody asked to remove.
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { VolumeManager } from '../driver/driver.js';
import type { DispatcherClient } from '../../proto/generated/berth/v1/Dispatcher.js';
import type { VolumeReport } from '../../proto/generated/berth/v1/VolumeReport.js';

export const VOLUME_SYNC_INTERVAL_MS = 3000;
const CALL_TIMEOUT_MS = 10_000;

export class VolumeSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private removals: { name: string; error: string }[] = [];

  constructor(
    private readonly volumes: VolumeManager,
    private readonly client: () => DispatcherClient,
    private readonly log: Logger,
    private readonly intervalMs = VOLUME_SYNC_INTERVAL_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.intervalMs);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Sync now (or right after the sync in flight). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.syncOnce()
      .catch((err: unknown) => this.log.debug({ err: errorMessage(err) }, 'volume sync failed; retrying'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  private async syncOnce(): Promise<void> {
    const client = this.client();
    const volumes = await this.volumes.listVolumes();
    const report: VolumeReport = { volumes, removals: this.removals };
    const sent = this.removals;
    const answer = await new Promise<string[]>((resolve, reject) =>
      client.SyncVolumes(report, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => (err ? reject(err) : resolve(res?.remove ?? []))),
    );
    this.removals = this.removals.filter((r) => !sent.includes(r));
    if (!answer.length) return;
    for (const name of answer) {
      try {
        await this.volumes.removeVolume(name);
        this.removals.push({ name, error: '' });
        this.log.info({ volume: name }, 'volume removed');
      } catch (err) {
        this.removals.push({ name, error: errorMessage(err) });
        this.log.warn({ volume: name, err: errorMessage(err) }, 'volume not removed');
      }
    }
    this.again = true;
  }
}
