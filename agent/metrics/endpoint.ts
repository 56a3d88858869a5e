// The agent's `--metrics-listen` endpoint: `GET /metrics` in the Prometheus text format, plain
// HTTP on a loopback address only (it carries task and service names; nothing listens in
// plaintext beyond loopback). A non-loopback address is refused when the flags are read.
//
// Owns: the listener and the loopback rule. Must not: measure anything (instruments.ts).
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../common/errors.js';

/** `ADDR:PORT` split, or a message saying what is wrong. */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return 'expected ADDR:PORT, e.g. 127.0.0.1:9101';
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is above 65535`;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (!isLoopback(host)) {
    return `${host} is not a loopback address: the agent serves its metrics in plaintext, so only on 127.0.0.1, ::1 or localhost (scrape it from the node, or through a TLS proxy)`;
  }
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

export interface MetricsEndpoint {
  /** `http://HOST:PORT` actually bound. */
  url: string;
  close(): Promise<void>;
}

export async function serveAgentMetrics(listen: { host: string; port: number }, registry: Registry, logger: Logger): Promise<MetricsEndpoint> {
  const log = logger.child({ component: 'metrics' });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url }, 'serving agent metrics');
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
