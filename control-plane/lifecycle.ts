// Start components in order, stop them in reverse: on SIGTERM/SIGINT, and when start-up fails
// half-way (so a failed start never leaves an etcd child or a bound port behind).
import type { Logger } from 'pino';
import { BerthError, errorMessage } from '../common/errors.js';

export class Lifecycle {
  private readonly stops: { name: string; stop: () => Promise<void> | void }[] = [];
  private stopping: Promise<void> | undefined;
  private resolveDone!: () => void;
  /** Resolves once stop() has run every registered stop. */
  readonly done: Promise<void> = new Promise((r) => (this.resolveDone = r));

  constructor(private readonly log: Logger) {}

  /**
   * Registers how to undo a step that has just succeeded. A step that finished after stop() began
   * (a signal during start-up) is undone at once: nothing started may outlive the stop.
   */
  onStop(name: string, stop: () => Promise<void> | void): void {
    if (this.stopping) {
      void this.stopping.then(() => this.run({ name, stop }));
      return;
    }
    this.stops.push({ name, stop });
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Runs every registered stop, newest first; errors are logged, the rest still run. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      while (this.stops.length) await this.run(this.stops.pop()!);
      this.resolveDone();
    })();
    return this.stopping;
  }

  private async run({ name, stop }: { name: string; stop: () => Promise<void> | void }): Promise<void> {
    try {
      await stop();
      this.log.debug({ component: name }, 'stopped');
    } catch (err) {
      this.log.error({ component: name, err: errorMessage(err) }, 'stop failed');
    }
  }
}

export class StartAborted extends BerthError {
  override readonly code: string = 'ABORTED';
  constructor() {
    super('start-up interrupted by a signal');
  }
}
