// A minimal Docker Engine API client over plain node:http on the unix socket. The API version is
// pinned in every path so an Engine upgrade cannot change the shapes we parse. Only the calls the
// docker driver needs; no dependency on dockerode.
import http from 'node:http';
import { RuntimeError } from './driver.js';

export const DOCKER_API_VERSION = 'v1.41';
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  body: Buffer;
}

/** An error answer of the Engine, with its status code and its own message. */
export class DockerApiError extends RuntimeError {
  constructor(
    readonly method: string,
    readonly path: string,
    status: number,
    readonly engineMessage: string,
  ) {
    super(`docker ${method} ${path}: ${status} ${engineMessage}`, status);
  }
}

export class DockerClient {
  constructor(readonly socketPath = DEFAULT_DOCKER_SOCKET) {}

  /** JSON answer, or throws DockerApiError for any status >= 400. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    this.check(method, path, res);
    const text = res.body.toString('utf8');
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Like json() but returns undefined for 404 instead of throwing. */
  async jsonOrUndefined<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T | undefined> {
    const res = await this.raw(method, path, opts);
    if (res.status === 404) return undefined;
    this.check(method, path, res);
    const text = res.body.toString('utf8');
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<RawResponse> {
    const chunks: Buffer[] = [];
    const status = await this.stream(method, path, opts, (c) => chunks.push(c));
    return { status, body: Buffer.concat(chunks) };
  }

  /**
   * Newline-delimited JSON stream (image pull progress). Each parsed line goes to onLine; an
   * error status throws with the Engine's message.
   */
  async jsonLines(method: string, path: string, opts: RequestOptions, onLine: (line: unknown) => void): Promise<void> {
    let pending = '';
    let errorBody = '';
    let status = 0;
    status = await this.stream(method, path, opts, (chunk, code) => {
      if (code >= 400) {
        errorBody += chunk.toString('utf8');
        return;
      }
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) onLine(JSON.parse(line));
      }
    });
    if (status >= 400) this.check(method, path, { status, body: Buffer.from(errorBody) });
    if (pending.trim()) onLine(JSON.parse(pending.trim()));
  }

  /**
   * A streaming answer (logs, exec output) to be read as it comes, so a slow reader slows the
   * Engine down instead of filling memory. An error status throws with the Engine's message.
   * Aborting `opts.signal` destroys the response.
   */
  async open(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: this.fullPath(path, opts.query),
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
          signal: opts.signal,
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else reject(new RuntimeError(`docker ${method} ${path}: cannot reach the Docker Engine at ${this.socketPath}: ${err.message}`));
      });
      if (payload) req.write(payload);
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      this.check(method, path, { status, body: Buffer.concat(chunks) });
    }
    return res;
  }

  /**
   * An upgraded (hijacked) connection, as the Engine answers an attached exec with stdin: after
   * the 101 answer, the socket carries the command's output one way and its stdin the other.
   */
  async upgrade(method: string, path: string, opts: RequestOptions = {}): Promise<{ socket: import('node:net').Socket; head: Buffer }> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method,
        path: this.fullPath(path, opts.query),
        headers: {
          connection: 'Upgrade',
          upgrade: 'tcp',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
        signal: opts.signal,
      });
      req.on('upgrade', (_res, socket, head) => resolve({ socket: socket, head }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            this.check(method, path, { status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
            reject(new RuntimeError(`docker ${method} ${path}: the Engine did not upgrade the connection (${res.statusCode})`));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else reject(new RuntimeError(`docker ${method} ${path}: cannot reach the Docker Engine at ${this.socketPath}: ${err.message}`));
      });
      if (payload) req.write(payload);
      req.end();
    });
  }

  private fullPath(path: string, query: Query | undefined): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, String(v));
    return `/${DOCKER_API_VERSION}${path}${qs.size ? `?${qs.toString()}` : ''}`;
  }

  private check(method: string, path: string, res: RawResponse): void {
    if (res.status < 400) return;
    let message = res.body.toString('utf8').trim();
    try {
      const parsed = JSON.parse(message) as { message?: string };
      if (parsed.message) message = parsed.message;
    } catch {
      // not JSON: keep the text as it is
    }
    throw new DockerApiError(method, path, res.status, message);
  }

  private stream(
    method: string,
    path: string,
    opts: RequestOptions,
    onChunk: (chunk: Buffer, status: number) => void,
  ): Promise<number> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const fullPath = `/${DOCKER_API_VERSION}${path}${qs.size ? `?${qs.toString()}` : ''}`;
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    return new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: fullPath,
          headers: {
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            ...opts.headers,
          },
          signal: opts.signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.on('data', (c: Buffer) => {
            try {
              onChunk(c, status);
            } catch (err) {
              res.destroy(err as Error);
            }
          });
          res.on('end', () => resolve(status));
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') reject(err);
        else reject(new RuntimeError(`docker ${method} ${path}: cannot reach the Docker Engine at ${this.socketPath}: ${err.message}`));
      });
      if (payload) req.write(payload);
      req.end();
    });
  }
}

/**
 * Splits the Engine's multiplexed log stream (8-byte frame headers: stream type, 3 zero bytes,
 * big-endian length) into text. Containers without a TTY always answer in this format.
 */
export function demuxLogs(buf: Buffer): string {
  const parts: string[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i];
    if (type !== 0 && type !== 1 && type !== 2) {
      // Not multiplexed (TTY container): the whole body is raw text.
      return buf.toString('utf8');
    }
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len).toString('utf8'));
    i += 8 + len;
  }
  return parts.join('');
}
