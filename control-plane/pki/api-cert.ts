// The API's TLS certificate (`api.crt`, `api.key` (0600) in the data dir), signed by the cluster CA
// for every name clients may use to reach the API: the --listen address (every local interface
// address when it is a wildcard), the host name, --advertise-addr's host, --tls-san, and loopback.
// Made on the first start; made again when those names change or a third of its life is left
// (the same rules, and the same issuing code, as the dispatcher's certificate in server-cert.ts).
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { generateKeyPair } from '../../common/pki/certs.js';
import { readIfExists, writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import type { ClusterCa } from './ca.js';
import { localAddresses, serverCertStale, serverSans, SERVER_CERT_TTL_MS, type ServerKeyPair } from './server-cert.js';

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
export async function ensureApiCert(opts: ApiCertOptions, ca: ClusterCa, log: Logger, now = new Date()): Promise<ServerKeyPair> {
  const sans = serverSans({
    agentListen: opts.listen,
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
    extra: opts.tlsSans ?? [],
    hostname: os.hostname(),
    interfaceAddresses: localAddresses(),
  });
  const certFile = path.join(opts.dataDir, API_CERT_FILE);
  const keyFile = path.join(opts.dataDir, API_KEY_FILE);
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  const why = certPem && keyPem ? serverCertStale(certPem, ca, sans, now) : 'missing';
  if (!why) return { certPem: certPem!, keyPem: keyPem! };
  const pair = await generateKeyPair();
  const issued = await ca.issueServerCert(pair.keys.publicKey, sans, SERVER_CERT_TTL_MS, now);
  await writePrivateFile(keyFile, pair.keyPem);
  await writePublicFile(certFile, issued.certPem);
  log.info({ reason: why, dns: sans.dns, ips: sans.ips, notAfter: issued.notAfter.toISOString() }, "issued the API's server certificate");
  return { certPem: issued.certPem, keyPem: pair.keyPem };
}
