// The dispatcher's side of mutual TLS. Owns: the server credentials (the server certificate, and
// the cluster CA asked of clients without requiring a client certificate, since Join is called
// without one) and the identity of a call's peer: the node id (CN) of a client certificate the
// cluster CA signed, not expired and not revoked. Every call but Join goes through `identify`;
// sessions check `stillValid` on every message, so an expired or revoked certificate stops
// working on a live session too.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { commonNameOf } from '../../common/pki/certs.js';
import type { ClusterCa } from '../pki/ca.js';
import type { ServerKeyPair } from '../pki/server-cert.js';

/** What the dispatcher needs for TLS. */
export interface DispatcherTls {
  ca: ClusterCa;
  server: ServerKeyPair;
  /** Lifetime of the node certificates the dispatcher signs (default NODE_CERT_TTL_MS). */
  nodeCertTtlMs?: number;
}

export const NODE_CERT_TTL_MS = 24 * 3600_000;

const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
/** Certificates whose checks are remembered (by fingerprint) before the memory is cleared. */
const MAX_REMEMBERED = 50_000;

export interface PeerNode {
  nodeId: string;
  serial: string;
  /** ms since the epoch. */
  notBefore: number;
  notAfter: number;
}

export interface CallDenied {
  code: grpc.status;
  details: string;
}

export function isDenied<T extends object>(x: T | CallDenied): x is CallDenied {
  return 'code' in x && 'details' in x;
}

/** Server credentials: TLS with the server certificate; client certificates asked for, checked per call. */
export function dispatcherCredentials(tls: DispatcherTls): grpc.ServerCredentials {
  const identity = { certificate: Buffer.from(`${tls.server.certPem.trim()}\n${tls.ca.certPem.trim()}\n`), privateKey: Buffer.from(tls.server.keyPem) };
  const ca = { caCertificate: Buffer.from(tls.ca.certPem) };
  // Listeners are answered in a microtask: grpc-js registers the server's own watcher only
  // after adding them, and an answer given at once would never reach it.
  const provider: grpc.experimental.CertificateProvider = {
    addCaCertificateListener: (l) => queueMicrotask(() => l(ca)),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (l) => queueMicrotask(() => l(identity)),
    removeIdentityCertificateListener: () => undefined,
  };
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

type Checked = PeerNode | CallDenied;

export class PeerVerifier {
  private readonly remembered = new Map<string, Checked>();

  constructor(
    private readonly ca: ClusterCa,
    private readonly revoked: { has(nodeId: string): boolean },
  ) {}

  /** The node a call comes from, or why it is refused. */
  identify(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>, now = Date.now()): PeerNode | CallDenied {
    const peerCert = call.getAuthContext().sslPeerCertificate;
    if (!peerCert?.raw) {
      // TLS vouches for the certificates it passes on: a missing one, one of another CA and an
      // expired one all arrive as none.
      return {
        code: grpc.status.UNAUTHENTICATED,
        details: 'this call needs a valid client certificate of this cluster (none was presented, or it expired or is not the cluster CA\'s): join with a join token',
      };
    }
    const key = peerCert.fingerprint256;
    let checked = this.remembered.get(key);
    if (!checked) {
      checked = this.check(peerCert.raw);
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.set(key, checked);
    }
    return isDenied(checked) ? checked : this.stillValid(checked, now);
  }

  /**
   * The node of a connection identified before, or why it no longer holds (expired, revoked).
   * Cheap: what a session asks on every message (reading the peer certificate again is not).
   */
  stillValid(checked: PeerNode, now = Date.now()): PeerNode | CallDenied {
    if (now < checked.notBefore) {
      return { code: grpc.status.UNAUTHENTICATED, details: `the client certificate of node ${checked.nodeId} is not valid before ${new Date(checked.notBefore).toISOString()}` };
    }
    if (now >= checked.notAfter) {
      return { code: grpc.status.UNAUTHENTICATED, details: `the client certificate of node ${checked.nodeId} expired at ${new Date(checked.notAfter).toISOString()}` };
    }
    if (this.revoked.has(checked.nodeId)) {
      return { code: grpc.status.PERMISSION_DENIED, details: `node ${checked.nodeId} was removed from the cluster: its certificates are revoked` };
    }
    return checked;
  }

  private check(raw: Buffer): Checked {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(raw);
    } catch {
      return { code: grpc.status.UNAUTHENTICATED, details: 'the client certificate cannot be read' };
    }
    if (!this.ca.issued(cert)) return { code: grpc.status.UNAUTHENTICATED, details: 'the client certificate was not issued by this cluster\'s CA' };
    if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) return { code: grpc.status.UNAUTHENTICATED, details: 'the client certificate is not a node certificate (no client-auth usage)' };
    const nodeId = commonNameOf(cert.subject);
    if (!nodeId) return { code: grpc.status.UNAUTHENTICATED, details: 'the client certificate names no node (no CN)' };
    return { nodeId, serial: cert.serialNumber.toLowerCase(), notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
  }
}
