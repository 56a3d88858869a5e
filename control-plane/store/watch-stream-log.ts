// The log of one store's watch stream to etcd: one line when it is lost, one when it is open
// again. The etcd client runs every watch of a store on one stream and re-opens it with backoff,
// telling each watch of each attempt; logging each of those filled the log with a line per
// informer per attempt for as long as etcd was down.
//
// Owns: the stream's lost/open state and its two log lines.
import type { Logger } from 'pino';

export class WatchStreamLog {
  private lostAt: number | undefined;
  /** Disconnects reported since: one per watch per failed attempt to re-open the stream. */
  private disconnects = 0;

  constructor(private readonly log: Logger) {}

  /** A watch was told its stream failed (`keyPrefix`: which watch). */
  lost(err: Error, keyPrefix: string): void {
    this.disconnects++;
    if (this.lostAt !== undefined) return;
    this.lostAt = Date.now();
    this.log.warn({ err: err.message, keyPrefix }, 'watch stream to etcd lost; re-opening it with backoff (watches resume where they were)');
  }

  /** A watch is open (again). */
  open(): void {
    if (this.lostAt === undefined) return;
    this.log.info({ lostForMs: Date.now() - this.lostAt, disconnects: this.disconnects }, 'watch stream to etcd open again');
    this.lostAt = undefined;
    this.disconnects = 0;
  }
}
