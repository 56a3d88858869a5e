// The first contact of a joining agent: a TLS connection that sends nothing, only reads the
// certificate chain the server presents, and keeps the CA certificate whose DER SHA-256 is the
// digest in the join token (and which signed the server's certificate). That CA then becomes the
// only root the agent's gRPC channels trust, so the join token goes only to a server holding a
// certificate of the cluster's CA. Answers are kept per (address, digest) for the process, and a
// pin under way is shared: many hollow nodes in one process starting together pin once.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { derDigest } from '../../common/pki/certs.js';
import { CaMismatchError } from './identity-errors.js';

const PIN_TIMEOUT_MS = 10_000;
const pinned = new Map<string, Promise<string>>();

/** The `HOST:PORT` a channel target dials (`dns://resolver/HOST:PORT` -> `HOST:PORT`). */
export function dialAddress(target: string): string {
  const uri = /^[a-z][a-z0-9+.-]*:\/\/[^/]*\/(.+)$/i.exec(target) ?? /^dns:(?!\/\/)(.+)$/i.exec(target);
  return uri ? uri[1]! : target;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!m) throw new Error(`invalid server address "${address}": expected HOST:PORT`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/**
 * The PEM of the CA certificate the server at `target` presents whose SHA-256 is `caDigest`.
 * Throws CaMismatchError if there is none (naming the digests it got); other errors (cannot
 * connect) may be retried.
 */
export function fetchPinnedCa(target: string, caDigest: string, timeoutMs = PIN_TIMEOUT_MS): Promise<string> {
  const address = dialAddress(target);
  const key = `${address}|${caDigest}`;
  let known = pinned.get(key);
  if (!known) {
    known = pin(address, caDigest, timeoutMs);
    pinned.set(key, known);
    // A failed pin is not kept: the next node tries again.
    known.catch(() => pinned.delete(key));
  }
  return known;
}

async function pin(address: string, caDigest: string, timeoutMs: number): Promise<string> {
  const { host, port } = splitHostPort(address);
  const chain = await presentedChain(host, port, timeoutMs);
  const digests = chain.map((c) => derDigest(c.raw));
  const index = digests.indexOf(caDigest);
  const ca = index >= 0 ? chain[index]! : undefined;
  if (!ca || !ca.ca || !chain[0]!.checkIssued(ca) || !chain[0]!.verify(ca.publicKey)) throw new CaMismatchError(address, caDigest, digests);
  return ca.toString();
}

/** The server's certificate chain, leaf first, as it presents it; nothing is sent. */
function presentedChain(host: string, port: number, timeoutMs: number): Promise<X509Certificate[]> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false, // not trusted yet: the digest decides
      ALPNProtocols: ['h2'],
      timeout: timeoutMs,
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('timeout', () => fail(new Error(`no TLS answer from ${host}:${port} within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      const chain: X509Certificate[] = [];
      let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert?.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        chain.push(new X509Certificate(cert.raw));
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
  });
}
