// How a controller tells that its work fails: one line when it starts failing (with the
// error), one when it works again (how long it failed, how many retries), and nothing in
// between at info level. An etcd outage of a minute would otherwise log a line per retry of
// every controller.
//
// Owns: the failing/working state of one controller and its two log lines.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';

export class FailureLog {
  private since: number | undefined;
  private retries = 0;
  private lastError = '';

  constructor(private readonly log: Logger) {}

  get failing(): boolean {
    return this.since !== undefined;
  }

  /** Work failed and will be retried (`keys`: how many keys it concerned). */
  failed(err: unknown, keys: number): void {
    const message = errorMessage(err);
    if (this.since === undefined) {
      this.since = Date.now();
      this.retries = 0;
      this.lastError = message;
      this.log.warn({ err: message, keys }, 'work failing; retrying with backoff');
      return;
    }
    this.retries++;
    if (message !== this.lastError) {
      this.lastError = message;
      this.log.debug({ err: message, keys, retries: this.retries }, 'work still failing');
    }
  }

  /** Work that had failed succeeded. */
  recovered(): void {
    if (this.since === undefined) return;
    this.log.info({ failedForMs: Date.now() - this.since, retries: this.retries, lastError: this.lastError }, 'work recovered');
    this.since = undefined;
  }
}
