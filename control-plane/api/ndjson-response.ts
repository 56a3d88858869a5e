// A streaming HTTP answer of newline-delimited JSON (logs, exec output), written straight to the
// socket. When the client reads slower than the node sends, every source is paused until the
// socket drains, so the control plane holds no more than what was already in flight.
import type { ServerResponse } from 'node:http';

export interface Pausable {
  pause(): void;
  resume(): void;
}

export class NdjsonResponse {
  private readonly sources = new Set<Pausable>();
  private paused = false;
  private ended = false;
  /** Aborts when the client goes away (or the response ends). */
  readonly signal: AbortSignal;

  constructor(private readonly res: ServerResponse) {
    const abort = new AbortController();
    this.signal = abort.signal;
    res.on('close', () => {
      this.ended = true;
      abort.abort();
    });
    res.on('drain', () => {
      this.paused = false;
      for (const s of this.sources) s.resume();
    });
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache',
      // No proxy buffering: lines must reach `logs -f` as they happen.
      'x-accel-buffering': 'no',
    });
    // Headers now, so the client knows the request was accepted before the first line.
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.ended;
  }

  /** A source whose flow follows the socket's (paused at once if the socket is full). */
  attach(source: Pausable): void {
    this.sources.add(source);
    if (this.paused) source.pause();
  }

  detach(source: Pausable): void {
    this.sources.delete(source);
  }

  write(obj: object): void {
    if (this.ended) return;
    if (this.res.write(`${JSON.stringify(obj)}\n`)) return;
    if (this.paused) return;
    this.paused = true;
    for (const s of this.sources) s.pause();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }
}
