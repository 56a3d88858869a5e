// Pure framing of runtime output: the Docker Engine's multiplexed stream (8-byte frame headers)
// into per-stream bytes, and bytes into lines. Both keep only the unfinished frame or line
// between chunks, and a line longer than the limit is cut, so a writer that never ends a line
// cannot make the agent buffer without bound.
import { OutputStream, type LogLine } from './driver.js';

/** A line longer than this is cut into pieces of this size. */
export const MAX_LINE_BYTES = 16 * 1024;

const FRAME_HEADER = 8;
const STREAM_OF_TYPE: Record<number, OutputStream> = { 0: OutputStream.Stdout, 1: OutputStream.Stdout, 2: OutputStream.Stderr };

export interface Frame {
  stream: OutputStream;
  data: Buffer;
}

/**
 * Splits the Engine's multiplexed stream (stream type, 3 zero bytes, big-endian length, payload)
 * as chunks arrive; a frame split across chunks is completed by the next one.
 */
export class FrameParser {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (buf.length >= FRAME_HEADER) {
      const stream = STREAM_OF_TYPE[buf[0]!];
      if (!stream) {
        // Not multiplexed (a TTY): everything is stdout as it is.
        frames.push({ stream: OutputStream.Stdout, data: buf });
        buf = Buffer.alloc(0);
        break;
      }
      const len = buf.readUInt32BE(4);
      if (buf.length < FRAME_HEADER + len) break;
      frames.push({ stream, data: buf.subarray(FRAME_HEADER, FRAME_HEADER + len) });
      buf = buf.subarray(FRAME_HEADER + len);
    }
    this.pending = Buffer.from(buf);
    return frames;
  }
}

/** Bytes -> complete lines (without `\n`, `\r\n` too), keeping the unfinished tail. */
export class LineSplitter {
  private pending = '';

  constructor(private readonly maxLine = MAX_LINE_BYTES) {}

  push(data: Buffer | string): string[] {
    const text = this.pending + (typeof data === 'string' ? data : data.toString('utf8'));
    const parts = text.split('\n');
    this.pending = parts.pop() ?? '';
    const lines: string[] = [];
    for (const p of parts) lines.push(...this.cut(p.endsWith('\r') ? p.slice(0, -1) : p));
    while (this.pending.length > this.maxLine) {
      lines.push(this.pending.slice(0, this.maxLine));
      this.pending = this.pending.slice(this.maxLine);
    }
    return lines;
  }

  /** The unfinished last line, if any (the output ended without a newline). */
  flush(): string[] {
    const rest = this.pending;
    this.pending = '';
    return rest ? this.cut(rest) : [];
  }

  private cut(line: string): string[] {
    if (line.length <= this.maxLine) return [line];
    const out: string[] = [];
    for (let i = 0; i < line.length; i += this.maxLine) out.push(line.slice(i, i + this.maxLine));
    return out;
  }
}

const DOCKER_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

/** A line of `docker logs --timestamps`: the Engine's RFC 3339 time, a space, then the text. */
export function splitTimestamp(stream: OutputStream, raw: string): LogLine {
  const m = DOCKER_TIME.exec(raw);
  if (!m) return { stream, line: raw };
  return { stream, time: m[1]!, line: raw.slice(m[0].length) };
}

/** Docker's `since` query: Unix seconds with a fraction, from an RFC 3339 time. */
export function dockerSince(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  const seconds = Math.floor(ms / 1000);
  const nanos = String((ms - seconds * 1000) * 1_000_000).padStart(9, '0');
  return `${seconds}.${nanos}`;
}
