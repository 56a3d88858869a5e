// Keys, certificate requests and certificates as both ends of the cluster's PKI handle them:
// ECDSA P-256 key pairs (WebCrypto), PKCS#10 requests, PEM encoding, the SHA-256 digest of a
// certificate's DER (what a join token pins) and the facts of a certificate read synchronously
// (node:crypto's X509Certificate: cheap enough to check on every gRPC call).
import { createHash, X509Certificate } from 'node:crypto';
import { subtle, x509, type CryptoKey, type CryptoKeyPair } from './x509.js';

export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * A DNS name every dispatcher certificate carries. Agents send it as the TLS server name (a
 * server name may not be an IP address) and check the address they dialled themselves.
 */
export const DISPATCHER_TLS_NAME = 'berth-dispatcher';

export interface PemKeyPair {
  keys: CryptoKeyPair;
  /** PKCS#8, PEM. */
  keyPem: string;
}

/** A new ECDSA P-256 key pair, extractable so its private half can be written to a 0600 file. */
export async function generateKeyPair(): Promise<PemKeyPair> {
  const keys = await subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  return { keys, keyPem: await privateKeyPem(keys.privateKey) };
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** The key pair of a PKCS#8 PEM private key and the certificate made for it. */
export async function importKeyPair(keyPem: string, certPem: string): Promise<CryptoKeyPair> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey: CryptoKey = await subtle.importKey('pkcs8', der, ECDSA_P256, true, ['sign']);
  const publicKey = (await new x509.X509Certificate(certPem).publicKey.export(ECDSA_P256, ['verify'])) as unknown as CryptoKey;
  return { privateKey, publicKey };
}

/** A PKCS#10 request (PEM) for `keys`; the signer decides the subject, this one is informative. */
export async function createCsr(keys: CryptoKeyPair, commonName = 'berth-node'): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${escapeDn(commonName)}`, keys, signingAlgorithm: ECDSA_P256 });
  return csr.toString('pem');
}

/** SHA-256 (hex) of a certificate's DER encoding: the CA digest a join token carries. */
export function certDigest(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

export function derDigest(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export interface CertFacts {
  /** Subject common name (a node certificate's node id). */
  commonName: string | undefined;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export function certFacts(cert: string | Buffer | X509Certificate): CertFacts {
  const c = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return { commonName: commonNameOf(c.subject), serial: c.serialNumber.toLowerCase(), notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}

/** The CN of a subject as node:crypto prints it (`CN=abc\nO=x`). */
export function commonNameOf(subject: string): string | undefined {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/** The first PEM certificate of a bundle. */
export function firstCertPem(bundle: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(bundle);
  if (!m) throw new Error('no PEM certificate found');
  return `${m[0]}\n`;
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}
