// The REST API as the CLI sees it: one typed method per endpoint, bearer-token auth, and every
// failure turned into an error whose message is a line a user can act on. With several API URLs
// (the servers of one cluster), a call that gets no answer at all (connection refused or reset,
// host unreachable, connect timeout; a read's own timeout) goes to the next URL; an answer, even
// an HTTP error, is the answer. The URL that answered is used for the rest of the command.
import { BerthError } from '../common/errors.js';
import { fetchWithCa, tlsVerifyCode, tlsVerifyMessage } from './tls.js';
import type { BerthEvent } from '../common/events.js';
import type { Node, Service, ServiceStatus, Task } from '../common/types.js';
import type { WatchKind } from '../common/watch.js';

/** What GET /v1/services returns: a service with its live counts (desired = replicas or eligible nodes). */
export type ServiceView = Service & { status?: ServiceStatus & { desired?: number } };
export type NodeView = Node & { tasks?: number };

export interface ApplyResult {
  kind: 'Service';
  name: string;
  action: 'created' | 'configured' | 'unchanged';
  version?: number;
}

export interface ApiIssue {
  index?: number;
  path?: string;
  reason: string;
}

/** A non-2xx answer: `code` is the API's `error` field (ValidationError, NotFound, ...). */
export class ApiError extends BerthError {
  constructor(
    readonly status: number,
    override readonly code: string,
    message: string,
    readonly issues: ApiIssue[] = [],
  ) {
    super(message);
  }
}

/** The server could not be reached at all. */
export class ConnectionError extends BerthError {
  override readonly code: string = 'UNREACHABLE';
}

export interface ApiClientOptions {
  server: string;
  /** Every API URL to try, `server` first (several servers of one cluster). */
  servers?: string[];
  token?: string;
  /** Where the token came from (`--token` or a file), to make a 401 actionable. */
  tokenSource?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** The cluster CA (PEM) the server's certificate must be signed by (config.ts resolves it). */
  ca?: string;
  /** Where `ca` came from, named when verification fails. */
  caSource?: string;
}

export class ApiClient {
  private readonly fetchFn: typeof fetch;
  private readonly urls: string[];
  private index = 0;

  constructor(private readonly opts: ApiClientOptions) {
    this.fetchFn = opts.fetch ?? (opts.ca ? fetchWithCa(opts.ca) : fetch);
    this.urls = [...new Set([opts.server, ...(opts.servers ?? [])])];
  }

  /** Every API URL this client may use, in order. */
  get servers(): string[] {
    return [...this.urls];
  }

  /**
   * Moves to the next API URL (a watch whose server stopped answering); false if there is only
   * one. Returns to the first after the last.
   */
  nextServer(): boolean {
    if (this.urls.length < 2) return false;
    this.index = (this.index + 1) % this.urls.length;
    return true;
  }

  /**
   * `fetch` of `path` on the URL in use, moving on to the next URLs while a call gets no answer
   * (`retryTimeout`: a timeout too, for calls that may be repeated). Throws the unreachable error
   * of the last one tried (naming every URL tried when there were several).
   */
  private async fetchAny(path: string, init: () => RequestInit, retryTimeout: boolean): Promise<Response> {
    const tried: string[] = [];
    for (;;) {
      const url = this.server;
      try {
        return await this.fetchFn(`${url}${path}`, init());
      } catch (err) {
        const signal = init().signal;
        if (signal?.aborted && (signal.reason as { name?: string } | undefined)?.name !== 'TimeoutError') throw err;
        tried.push(`${url} (${networkReason(err)})`);
        if (!noAnswer(err, retryTimeout) || tried.length >= this.urls.length) {
          if (tried.length > 1 && noAnswer(err, retryTimeout)) throw new ConnectionError(`cannot reach any server of this context: ${tried.join('; ')}`);
          throw this.unreachable(err);
        }
        this.nextServer();
      }
    }
  }

  /** The CA the WebSocket client must verify the server with, as fetch does. */
  get ca(): string | undefined {
    return this.opts.ca;
  }

  get caSource(): string | undefined {
    return this.opts.caSource;
  }

  /** The error for a call that got no answer: a certificate that failed verification says so. */
  unreachable(err: unknown): ConnectionError {
    const code = tlsVerifyCode(err);
    if (code) return new ConnectionError(tlsVerifyMessage(this.server, code, this.opts.caSource));
    const plain = this.server.startsWith('http:') && /other side closed|ECONNRESET|socket hang up/i.test(networkReason(err));
    return new ConnectionError(`cannot reach the server at ${this.server}: ${networkReason(err)}${plain ? ' (the API serves HTTPS only: use https://)' : ''}`);
  }

  /** The API URL in use. */
  get server(): string {
    return this.urls[this.index]!;
  }

  health(): Promise<{ status: string }> {
    return this.request('GET', '/healthz');
  }

  /** With dryRun the server validates and plans (created/configured/unchanged) but writes nothing. */
  apply(items: Service[], opts: { dryRun?: boolean } = {}): Promise<{ items: ApplyResult[] }> {
    return this.request('POST', '/v1/apply', { items, ...(opts.dryRun ? { dryRun: true } : {}) });
  }

  async listServices(): Promise<ServiceView[]> {
    return (await this.request<{ items: ServiceView[] }>('GET', '/v1/services')).items;
  }

  getService(name: string): Promise<ServiceView> {
    return this.request('GET', `/v1/services/${enc(name)}`);
  }

  deleteService(name: string): Promise<{ name: string; deleted: boolean }> {
    return this.request('DELETE', `/v1/services/${enc(name)}`);
  }

  scaleService(name: string, replicas: number): Promise<ServiceView> {
    return this.request('POST', `/v1/services/${enc(name)}/scale`, { replicas });
  }

  async listTasks(filter: { service?: string; node?: string } = {}): Promise<Task[]> {
    const q = new URLSearchParams();
    if (filter.service) q.set('service', filter.service);
    if (filter.node) q.set('node', filter.node);
    const qs = q.toString() ? `?${q.toString()}` : '';
    return (await this.request<{ items: Task[] }>('GET', `/v1/tasks${qs}`)).items;
  }

  getTask(ref: string): Promise<Task> {
    return this.request('GET', `/v1/tasks/${enc(ref)}`);
  }

  async listNodes(): Promise<NodeView[]> {
    return (await this.request<{ items: NodeView[] }>('GET', '/v1/nodes')).items;
  }

  getNode(ref: string): Promise<NodeView> {
    return this.request('GET', `/v1/nodes/${enc(ref)}`);
  }

  /** Events, oldest first; `service` includes the events of its tasks. */
  async listEvents(filter: { kind?: string; name?: string; service?: string } = {}): Promise<BerthEvent[]> {
    const q = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => Boolean(e[1])));
    const qs = q.toString() ? `?${q.toString()}` : '';
    return (await this.request<{ items: BerthEvent[] }>('GET', `/v1/events${qs}`)).items;
  }

  /** Where and how to open the watch WebSocket of `kind`. */
  watchTarget(kind: WatchKind, fromVersion?: number): { url: string; headers: Record<string, string> } {
    return this.socketTarget('/v1/watch', [['kind', kind], ...(fromVersion !== undefined ? [['fromVersion', String(fromVersion)] as [string, string]] : [])]);
  }

  /** A WebSocket endpoint's URL (ws:// or wss:// as the server's) and the headers naming the token. */
  socketTarget(path: string, params: [string, string][]): { url: string; headers: Record<string, string> } {
    const url = new URL(path, this.server);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    for (const [k, v] of params) url.searchParams.append(k, v);
    return { url: url.toString(), headers: this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {} };
  }

  /** Node id -> name for display; a failed lookup only costs the pretty names. */
  async nodeNames(tasks: readonly Task[]): Promise<Map<string, string>> {
    if (!tasks.some((t) => t.nodeId)) return new Map();
    try {
      return new Map((await this.listNodes()).map((n) => [n.id, n.name]));
    } catch {
      return new Map();
    }
  }

  /**
   * A streaming answer (logs, exec): the open Response once the server accepted the request, read
   * as it comes. No timeout: it lasts as long as the stream; `signal` ends it.
   */
  async openStream(method: string, path: string, opts: { body?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/x-ndjson, application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await this.fetchAny(path, () => ({
      method,
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }), false);
    if (!res.ok) {
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      throw this.toError(res, parsed, text);
    }
    return res;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token && path !== '/healthz') headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    // Each URL gets its own timeout; a read that timed out may be asked of the next server.
    let signal: AbortSignal | undefined;
    let signalFor: string | undefined;
    const res = await this.fetchAny(path, () => {
      if (signalFor !== this.server) {
        signal = AbortSignal.timeout(this.opts.timeoutMs ?? 30_000);
        signalFor = this.server;
      }
      return { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: signal! };
    }, method === 'GET');
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw this.toError(res, parsed, text);
    if (parsed === undefined) {
      // Reached, but not a Berth API (a proxy's page?): a general failure, not "unreachable".
      throw new ApiError(res.status, 'NotJson', `${method} ${path}: the server at ${this.server} answered ${res.status} without JSON`);
    }
    return parsed as T;
  }

  private toError(res: Response, parsed: unknown, text: string): ApiError {
    const body = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
      error?: string;
      message?: string;
      issues?: ApiIssue[];
    };
    const code = body.error ?? res.statusText ?? String(res.status);
    if (res.status === 401) {
      const where = this.opts.token
        ? `the token${this.opts.tokenSource ? ` from ${this.opts.tokenSource}` : ''} was rejected`
        : 'no token was given (pass --token or set token in the config file)';
      return new ApiError(401, code, `unauthorized by ${this.server}: ${where}`);
    }
    const message = body.message ?? (text.trim().split('\n')[0] || `HTTP ${res.status} ${res.statusText}`);
    return new ApiError(res.status, code, message, Array.isArray(body.issues) ? body.issues : []);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Error codes of a call that never reached a server (nothing was sent, or nothing answered). */
const NO_ANSWER = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

/** Whether a failed fetch got no answer at all (worth asking another server); a timeout only if `timeout`. */
function noAnswer(err: unknown, timeout: boolean): boolean {
  if (tlsVerifyCode(err)) return false;
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const x = e as { code?: string; name?: string; cause?: unknown };
    if (x.name === 'TimeoutError') return timeout;
    if (x.code && NO_ANSWER.has(x.code)) return true;
    e = x.cause;
  }
  return false;
}

/** fetch hides the real cause (ECONNREFUSED, ENOTFOUND, timeout) one or two levels down. */
function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 3 && e; i++) {
    const x = e as { code?: string; name?: string; message?: string; cause?: unknown };
    if (x.name === 'TimeoutError') return 'timed out';
    if (x.code === 'ECONNREFUSED') return 'connection refused (is "berth server" running?)';
    if (x.code === 'ENOTFOUND') return 'host not found';
    if (x.code) return `${x.code}${x.message ? ` ${x.message}` : ''}`;
    if (!x.cause) return x.message ?? 'unknown network error';
    e = x.cause;
  }
  return err instanceof Error ? err.message : 'unknown network error';
}
