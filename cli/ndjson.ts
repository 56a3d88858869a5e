// Reads a streaming NDJSON answer (logs, exec) object by object as it arrives.
import { CliError } from './command.js';

/** Splits text chunks into JSON objects, one per line; keeps an unfinished line for the next chunk. */
export class NdjsonDecoder {
  private pending = '';

  push(text: string): unknown[] {
    const parts = (this.pending + text).split('\n');
    this.pending = parts.pop() ?? '';
    return parts.filter((l) => l.trim()).map(parseLine);
  }

  /** What is left when the stream ends (a last line without newline). */
  end(): unknown[] {
    const rest = this.pending.trim();
    this.pending = '';
    return rest ? [parseLine(rest)] : [];
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new CliError(`the server sent a line that is not JSON: ${line.slice(0, 80)}`);
  }
}

/** Every object of the body, in order. Ends when the server ends the answer (or `signal` aborts). */
export async function* readNdjson(body: ReadableStream<Uint8Array> | null): AsyncGenerator<unknown> {
  if (!body) return;
  const decoder = new NdjsonDecoder();
  const text = new TextDecoder();
  for await (const chunk of body) {
    for (const obj of decoder.push(text.decode(chunk, { stream: true }))) yield obj;
  }
  for (const obj of decoder.end()) yield obj;
}
