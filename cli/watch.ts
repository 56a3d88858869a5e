// Follows the watch WebSocket of one kind until stopped: reconnects after a dropped connection
// with fromVersion = the last version seen (so no change is lost), and starts over from the
// current objects when the server answers 410 (the version is too old to resume from). With
// several API URLs, a connection that could not be opened is tried again on the next one.
import WebSocket from 'ws';
import { WatchErrorCode, type WatchChange, type WatchKind, type WatchMessage } from '../common/watch.js';
import type { ApiClient } from './api-client.js';
import { CliError } from './command.js';
import { sleep } from '../common/sleep.js';
import { tlsVerifyCode, tlsVerifyMessage } from './tls.js';

export interface FollowOptions {
  kind: WatchKind;
  /** Called for each change, in order; the next waits for the returned promise. */
  onChange(change: WatchChange): void | Promise<void>;
  /** Notes for the user (reconnecting, re-listing), on stderr. */
  onNotice?(text: string): void;
  signal: AbortSignal;
  /** Delays before reconnect attempts (the last repeats). */
  backoffMs?: readonly number[];
}

const BACKOFF_MS = [200, 500, 1000, 2000, 5000] as const;

/** Resolves when `signal` aborts. Rejects only when the server refuses the request itself (401, 400). */
export async function followWatch(client: ApiClient, opts: FollowOptions): Promise<void> {
  let version: number | undefined;
  let attempt = 0;
  const backoff = opts.backoffMs ?? BACKOFF_MS;
  while (!opts.signal.aborted) {
    const outcome = await connectOnce(client, opts, version, (v) => {
      version = Math.max(version ?? 0, v);
      attempt = 0;
    });
    if (opts.signal.aborted) return;
    if (outcome.kind === 'refused') throw new CliError(outcome.message);
    if (outcome.kind === 'gone') {
      opts.onNotice?.('watch: too far behind to resume; listing again');
      version = undefined;
      continue;
    }
    const wait = backoff[Math.min(attempt++, backoff.length - 1)] ?? 1000;
    const from = client.server;
    if (!outcome.opened && client.nextServer()) {
      opts.onNotice?.(`watch: cannot reach ${from} (${outcome.message}); trying ${client.server}`);
      if (attempt <= client.servers.length) continue; // the first round through the servers without waiting
    } else {
      opts.onNotice?.(`watch: connection lost (${outcome.message}); reconnecting`);
    }
    await sleep(wait, opts.signal);
  }
}

type Outcome = { kind: 'dropped'; message: string; opened?: boolean } | { kind: 'gone' } | { kind: 'refused'; message: string };

function connectOnce(client: ApiClient, opts: FollowOptions, fromVersion: number | undefined, seen: (v: number) => void): Promise<Outcome> {
  const { url, headers } = client.watchTarget(opts.kind, fromVersion);
  return new Promise((resolve) => {
    // wss:// verified with the same CA as the REST calls.
    const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000, ...(client.ca ? { ca: client.ca } : {}) });
    let outcome: Outcome = { kind: 'dropped', message: 'closed by the server' };
    let chain = Promise.resolve();
    let opened = false;
    ws.on('open', () => {
      opened = true;
    });
    const onAbort = () => ws.terminate();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    ws.on('unexpected-response', (_req, res) => {
      opened = true; // the server answered (an HTTP error is its answer, not a reason to go elsewhere)
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        const message = safeMessage(body) ?? `HTTP ${res.statusCode}`;
        // A 5xx or a proxy error is worth retrying; a refusal of the request itself is not.
        outcome = res.statusCode && res.statusCode < 500 ? { kind: 'refused', message: `watch refused by ${client.server}: ${message}` } : { kind: 'dropped', message };
        ws.terminate();
      });
    });
    ws.on('message', (data: Buffer) => {
      let msg: WatchMessage;
      try {
        msg = JSON.parse(data.toString()) as WatchMessage;
      } catch {
        return;
      }
      if (msg.type === 'ERROR') {
        outcome = msg.code === WatchErrorCode.Gone ? { kind: 'gone' } : { kind: 'dropped', message: msg.message };
        return;
      }
      // Handlers run one at a time, in order; the version counts as seen once handled.
      chain = chain.then(async () => {
        if (opts.signal.aborted) return;
        await opts.onChange(msg);
        seen(msg.version);
      }).catch(() => undefined);
    });
    ws.on('error', (err) => {
      const code = tlsVerifyCode(err);
      if (code) outcome = { kind: 'refused', message: tlsVerifyMessage(client.server, code, client.caSource) };
      else if (outcome.kind === 'dropped') outcome = { kind: 'dropped', message: err.message };
    });
    ws.on('close', () => {
      opts.signal.removeEventListener('abort', onAbort);
      if (outcome.kind === 'dropped') outcome = { ...outcome, opened };
      void chain.then(() => resolve(outcome));
    });
  });
}

function safeMessage(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return body.trim() || undefined;
  }
}

