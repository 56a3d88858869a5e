// The API's TLS certificate (`api.crt`, `api.key` (0600) in the data dir), signed by the cluster CA
// for every name clients may use to reach the API: the --listen address (every local interface
// address when it is a wildcard), the host name, --advertise-addr's host, --tls-san, and loopback.
// Made on the first start; made again when those names change or a third of its life is left
// (the same rules, and the same issuing code, as the dispatcher's certificate in server-cert.ts).
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { ClusterCa } from './ca.js';
import { ensureCertFiles, localAddresses, serverSans, type ServerKeyPair } from './server-cert.js';

export const API_CERT_FILE = 'api.crt';
export const API_KEY_FILE = 'api.key';

export interface ApiCertOptions {
  dataDir: string;
  /** The API's listen address, `HOST:PORT`. */
  listen: string;
  advertiseAddr?: string;
  tlsSans?: string[];
}

/** Loads the API's certificate of the data dir, making it (again) when missing or stale. */
export function ensureApiCert(opts: ApiCertOptions, ca: ClusterCa, log: Logger, now = new Date()): Promise<ServerKeyPair> {
  const sans = serverSans({
    agentListen: opts.listen,
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
    extra: opts.tlsSans ?? [],
    hostname: os.hostname(),
    interfaceAddresses: localAddresses(),
  });
  return ensureCertFiles({ certFile: path.join(opts.dataDir, API_CERT_FILE), keyFile: path.join(opts.dataDir, API_KEY_FILE), label: "the API's server certificate" }, ca, sans, log, now);
}
