// The dispatcher's TLS certificate (`server.crt`, `server.key` (0600) in the data dir), signed by
// the cluster CA for every name agents may dial: the listen address (every local interface
// address when it is a wildcard), the host name, --advertise-addr, --tls-san, and loopback. Made
// on the first start; made again when those names change or a third of its life is left.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { DISPATCHER_TLS_NAME, generateKeyPair } from '../../common/pki/certs.js';
import { readIfExists, writePrivateFile, writePublicFile } from '../../common/pki/files.js';
import type { ClusterCa, SubjectAltNames } from './ca.js';

export const SERVER_CERT_FILE = 'server.crt';
export const SERVER_KEY_FILE = 'server.key';
export const SERVER_CERT_TTL_MS = 365 * 24 * 3600_000;

export interface ServerCertNames {
  /** The dispatcher's listen address, `HOST:PORT`. */
  agentListen: string;
  advertiseAddr?: string;
  /** Extra names (--tls-san): host names or IP addresses. */
  extra?: string[];
  hostname?: string;
  /** Addresses of this machine's interfaces (used when the listen host is a wildcard). */
  interfaceAddresses?: string[];
}

export interface ServerKeyPair {
  certPem: string;
  keyPem: string;
}

/** The names the server certificate carries, sorted and without duplicates. */
export function serverSans(n: ServerCertNames): SubjectAltNames {
  const names = new Set<string>([DISPATCHER_TLS_NAME, 'localhost', '127.0.0.1', '::1']);
  const listenHost = hostOf(n.agentListen);
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') {
    for (const a of n.interfaceAddresses ?? []) names.add(a);
  } else {
    names.add(listenHost);
  }
  if (n.hostname) names.add(n.hostname);
  if (n.advertiseAddr) names.add(hostOf(n.advertiseAddr));
  for (const e of n.extra ?? []) if (e.trim()) names.add(e.trim());
  const all = [...names].filter(Boolean).sort();
  return { dns: all.filter((x) => isIP(x) === 0), ips: all.filter((x) => isIP(x) !== 0) };
}

/** This machine's interface addresses (IPv6 link-local ones left out: they need a zone). */
export function localAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && !(i.family === 'IPv6' && i.address.startsWith('fe80')))
    .map((i) => i.address);
}

/** `HOST:PORT`, `[V6]:PORT` or a bare host -> the host. */
export function hostOf(address: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1]!;
  if (isIP(address) === 6) return address;
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}

/** The SANs of a certificate, as `serverSans` lists them. */
export function sansOf(cert: X509Certificate): SubjectAltNames {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dns.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ips.push(part.slice(11).toLowerCase());
  }
  return { dns: dns.sort(), ips: ips.sort() };
}

/** Why the certificate must be made again, or undefined if it can stay. */
export function serverCertStale(certPem: string, ca: ClusterCa, wanted: SubjectAltNames, now = new Date()): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'unreadable';
  }
  if (!ca.issued(cert)) return 'not signed by the cluster CA';
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  if (now.getTime() > to - (to - from) / 3) return 'near expiry';
  const have = sansOf(cert);
  const canonical = (s: SubjectAltNames) => JSON.stringify([[...s.dns].sort(), s.ips.map(canonicalIp).sort()]);
  if (canonical(have) !== canonical(wanted)) return 'its names changed';
  return undefined;
}

/** Loads the server certificate of `dataDir`, making it (again) when missing or stale. */
export function ensureServerCert(dataDir: string, ca: ClusterCa, sans: SubjectAltNames, log: Logger, now = new Date()): Promise<ServerKeyPair> {
  return ensureCertFiles({ certFile: path.join(dataDir, SERVER_CERT_FILE), keyFile: path.join(dataDir, SERVER_KEY_FILE), label: "the dispatcher's server certificate" }, ca, sans, log, now);
}

/**
 * Loads a server certificate and key from their files, issuing a new pair when either is missing
 * or the certificate is stale (another CA, other names, near expiry). Used for the dispatcher's
 * and the API's certificates.
 */
export async function ensureCertFiles(
  files: { certFile: string; keyFile: string; label: string; peer?: boolean },
  ca: ClusterCa,
  sans: SubjectAltNames,
  log: Logger,
  now = new Date(),
): Promise<ServerKeyPair> {
  const [certPem, keyPem] = await Promise.all([readIfExists(files.certFile), readIfExists(files.keyFile)]);
  const why = certPem && keyPem ? serverCertStale(certPem, ca, sans, now) : 'missing';
  if (!why) return { certPem: certPem!, keyPem: keyPem! };
  const pair = await generateKeyPair();
  const issued = await (files.peer ? ca.issuePeerCert(pair.keys.publicKey, sans, SERVER_CERT_TTL_MS, now) : ca.issueServerCert(pair.keys.publicKey, sans, SERVER_CERT_TTL_MS, now));
  await writePrivateFile(files.keyFile, pair.keyPem);
  await writePublicFile(files.certFile, issued.certPem);
  log.info({ reason: why, dns: sans.dns, ips: sans.ips, notAfter: issued.notAfter.toISOString() }, `issued ${files.label}`);
  return { certPem: issued.certPem, keyPem: pair.keyPem };
}

/** An IP address in one spelling (node may print IPv6 SANs expanded, users write them short). */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head, tail] = ip.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}
