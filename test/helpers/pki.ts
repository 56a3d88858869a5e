// A cluster CA and a dispatcher server certificate (for 127.0.0.1 and localhost) made in memory,
// and join tokens that pin the CA: what tests that start a Dispatcher themselves need.
import { randomBytes } from 'node:crypto';
import { formatJoinToken } from '../../common/pki/join-token.js';
import { DISPATCHER_TLS_NAME, generateKeyPair } from '../../common/pki/certs.js';
import { ClusterCa } from '../../control-plane/pki/ca.js';
import type { DispatcherTls } from '../../control-plane/dispatcher/tls.js';

export interface TestPki {
  ca: ClusterCa;
  tls: DispatcherTls;
  /** A join token pinning this CA (any secret: tests check it as they like). */
  token(secret?: string): string;
}

export async function testPki(opts: { nodeCertTtlMs?: number } = {}): Promise<TestPki> {
  const { ca } = await ClusterCa.create();
  const key = await generateKeyPair();
  const cert = await ca.issueServerCert(key.keys.publicKey, { dns: [DISPATCHER_TLS_NAME, 'localhost'], ips: ['127.0.0.1', '::1'] }, 24 * 3600_000);
  return {
    ca,
    tls: { ca, server: { certPem: cert.certPem, keyPem: key.keyPem }, ...(opts.nodeCertTtlMs ? { nodeCertTtlMs: opts.nodeCertTtlMs } : {}) },
    token: (secret = randomBytes(18).toString('base64url')) => formatJoinToken(ca.digest, secret),
  };
}
