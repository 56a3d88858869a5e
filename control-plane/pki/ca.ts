// The cluster's certificate authority: an ECDSA P-256 root made on the control plane's first
// start (`ca.crt`, `ca.key` (0600) in its data dir) that signs the dispatcher's server certificate
// and every node's certificate (CN = node id, client auth only). Its DER's SHA-256 is the digest
// join tokens carry. Must not: decide who may have a certificate (the dispatcher checks tokens
// and peers) or keep any state besides its two files.
import { randomBytes, X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../../common/errors.js';
import { certDigest, certFacts, ECDSA_P256, generateKeyPair, importKeyPair } from '../../common/pki/certs.js';
import { readIfExists, writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import { x509, type CryptoKey, type CryptoKeyPair, type EcKeyAlgorithm } from '../../common/pki/x509.js';
import { NodeCertSigner, parseSpki } from './node-cert.js';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const CA_NAME = 'CN=berth-cluster-ca';
export const CA_TTL_MS = 10 * 365 * 24 * 3600_000;
/** Signed certificates start this far in the past: clocks of a cluster's machines differ a little. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Verified requests remembered (a request holds no secret: it is what was signed, not the key). */
const CHECKED_CSRS_KEPT = 256;

/** The extensions every node (client) or server certificate has; made once (they are immutable DER). */
const leafExtensions = (usage: x509.ExtendedKeyUsageType) => [
  new x509.BasicConstraintsExtension(false, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  new x509.ExtendedKeyUsageExtension([usage], false),
];
const NODE_EXTENSIONS = leafExtensions(x509.ExtendedKeyUsage.clientAuth);
const SERVER_EXTENSIONS = leafExtensions(x509.ExtendedKeyUsage.serverAuth);
/** etcd peers are both: each dials the others and is dialled. */
const PEER_EXTENSIONS = [
  new x509.BasicConstraintsExtension(false, undefined, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
];
/** The CN of etcd peer certificates; etcd accepts peers with this CN only (not nodes' certificates). */
export const ETCD_PEER_CN = 'berth-etcd-peer';

/** A node's CSR the CA will not sign. */
export class CsrRejectedError extends BerthError {}

export interface SubjectAltNames {
  dns: string[];
  ips: string[];
}

export interface IssuedCert {
  certPem: string;
  serial: string;
  notAfter: Date;
}

export class ClusterCa {
  /** The CA's certificate as node:crypto reads it, to check peers' certificates on every call. */
  readonly cert: X509Certificate;
  readonly digest: string;
  /** Requests checked, with their keys (SubjectPublicKeyInfo, as a node certificate carries it). */
  private readonly checkedCsrs = new Map<string, Promise<ReturnType<typeof parseSpki>>>();
  /** Signs node certificates from a template made once (the generic generator is ~15x slower). */
  private readonly nodeCerts: NodeCertSigner;

  private constructor(
    readonly certPem: string,
    private readonly keys: CryptoKeyPair,
  ) {
    this.cert = new X509Certificate(certPem);
    this.digest = certDigest(certPem);
    this.nodeCerts = new NodeCertSigner(this.cert.raw, keys.privateKey, NODE_EXTENSIONS.map((e) => e.rawData));
  }

  /** A new root CA, in memory (tests; `loadOrCreate` writes one to a data dir). */
  static async create(now = new Date()): Promise<{ ca: ClusterCa; keyPem: string }> {
    const { keys, keyPem } = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: newSerial(),
      name: CA_NAME,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + CA_TTL_MS),
      signingAlgorithm: ECDSA_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return { ca: new ClusterCa(cert.toString('pem'), keys), keyPem };
  }

  static async fromPem(certPem: string, keyPem: string): Promise<ClusterCa> {
    return new ClusterCa(certPem, await importKeyPair(keyPem, certPem));
  }

  /** The CA of `dataDir`, created there on the first start. */
  static async loadOrCreate(dataDir: string, log: Logger): Promise<ClusterCa> {
    const certFile = path.join(dataDir, CA_CERT_FILE);
    const keyFile = path.join(dataDir, CA_KEY_FILE);
    const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
    if (certPem && keyPem) {
      try {
        return await ClusterCa.fromPem(certPem, keyPem);
      } catch (err) {
        throw new BerthError(`cannot load the cluster CA from ${certFile} and ${keyFile}: ${(err as Error).message}`);
      }
    }
    if (certPem || keyPem) {
      throw new BerthError(`${certPem ? keyFile : certFile} is missing: the cluster CA needs both ${CA_CERT_FILE} and ${CA_KEY_FILE} (restore it, or remove both to make a new CA and join every node again)`);
    }
    const made = await ClusterCa.create();
    // Key first: a crash in between leaves a key without a certificate, refused above, never the reverse.
    await writePrivateFile(keyFile, made.keyPem);
    await writePublicFile(certFile, made.ca.certPem);
    log.info({ dataDir, caDigest: made.ca.digest }, 'created the cluster CA');
    return made.ca;
  }

  /** True if `cert` was signed by this CA (its signature verifies with the CA's key). */
  issued(cert: X509Certificate): boolean {
    return cert.checkIssued(this.cert) && cert.verify(this.cert.publicKey);
  }

  /**
   * Signs a node's PKCS#10 request: subject CN = `nodeId` whatever the request says, client auth
   * only, valid `ttlMs` from now. Throws CsrRejectedError for a request that is not one, whose
   * signature is wrong (not made with the key it carries) or whose key is not ECDSA P-256.
   */
  async signNodeCsr(csrPem: string, nodeId: string, ttlMs: number, now = new Date()): Promise<IssuedCert> {
    const publicKey = await this.checkCsr(csrPem);
    const serial = newSerial();
    const notAfter = this.notAfter(now, ttlMs);
    const der = this.nodeCerts.issue({ serial: Buffer.from(serial, 'hex'), commonName: nodeId, notBefore: new Date(now.getTime() - CLOCK_SKEW_MS), notAfter, publicKey });
    return { certPem: x509.PemConverter.encode(der, 'CERTIFICATE'), serial, notAfter };
  }

  /**
   * The request's key, if the CA would sign the request; else throws CsrRejectedError saying
   * why. Many nodes of one process (hollow nodes) send the same request: it is checked once.
   */
  checkCsr(csrPem: string): Promise<ReturnType<typeof parseSpki>> {
    let publicKey = this.checkedCsrs.get(csrPem);
    if (!publicKey) {
      publicKey = this.verifyCsr(csrPem).then((csr) => parseSpki(csr.publicKey.rawData));
      if (this.checkedCsrs.size >= CHECKED_CSRS_KEPT) this.checkedCsrs.clear();
      this.checkedCsrs.set(csrPem, publicKey);
      publicKey.catch(() => this.checkedCsrs.delete(csrPem));
    }
    return publicKey;
  }

  private async verifyCsr(csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch {
      throw new CsrRejectedError('the certificate request is not a PEM PKCS#10 request');
    }
    const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
    if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new CsrRejectedError(`the certificate request's key is ${alg.name} ${alg.namedCurve ?? ''}; ECDSA P-256 expected`);
    if (!(await csr.verify())) throw new CsrRejectedError('the certificate request\'s signature does not verify (not made with the key it carries)');
    return csr;
  }

  /** A server certificate for `sans` (the dispatcher's), server auth only. */
  async issueServerCert(publicKey: CryptoKey, sans: SubjectAltNames, ttlMs: number, now = new Date()): Promise<IssuedCert> {
    const names: x509.JsonGeneralName[] = [...sans.dns.map((value) => ({ type: 'dns' as const, value })), ...sans.ips.map((value) => ({ type: 'ip' as const, value }))];
    return this.issue({ subject: 'CN=berth-dispatcher', publicKey, ttlMs, now, usage: x509.ExtendedKeyUsage.serverAuth, sans: names });
  }

  /** An etcd peer certificate (server and client auth, CN = ETCD_PEER_CN) for `sans`. */
  async issuePeerCert(publicKey: CryptoKey, sans: SubjectAltNames, ttlMs: number, now = new Date()): Promise<IssuedCert> {
    const names: x509.JsonGeneralName[] = [...sans.dns.map((value) => ({ type: 'dns' as const, value })), ...sans.ips.map((value) => ({ type: 'ip' as const, value }))];
    return this.issue({ subject: `CN=${ETCD_PEER_CN}`, publicKey, ttlMs, now, usage: x509.ExtendedKeyUsage.serverAuth, peer: true, sans: names });
  }

  private async issue(o: {
    subject: string;
    publicKey: CryptoKey | x509.PublicKey;
    ttlMs: number;
    now: Date;
    usage: x509.ExtendedKeyUsageType;
    /** Server and client auth (etcd peers), whatever `usage` says. */
    peer?: boolean;
    sans?: x509.JsonGeneralName[];
  }): Promise<IssuedCert> {
    const notAfter = this.notAfter(o.now, o.ttlMs);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerial(),
      subject: o.subject,
      issuer: CA_NAME,
      notBefore: new Date(o.now.getTime() - CLOCK_SKEW_MS),
      notAfter,
      signingAlgorithm: ECDSA_P256,
      publicKey: o.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        ...(o.peer ? PEER_EXTENSIONS : o.usage === x509.ExtendedKeyUsage.clientAuth ? NODE_EXTENSIONS : SERVER_EXTENSIONS),
        ...(o.sans?.length ? [new x509.SubjectAlternativeNameExtension(o.sans, false)] : []),
      ],
    });
    const certPem = cert.toString('pem');
    return { certPem, serial: certFacts(certPem).serial, notAfter };
  }

  /** `ttlMs` from `now`, but not after the CA's own end. */
  private notAfter(now: Date, ttlMs: number): Date {
    return new Date(Math.min(now.getTime() + ttlMs, new Date(this.cert.validTo).getTime()));
  }
}

/** 16 random bytes, the first bit clear (a positive serial). */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f | 0x01;
  return bytes.toString('hex');
}
