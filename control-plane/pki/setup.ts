// The control plane's TLS material at start-up: the cluster CA of the data dir (made on the first
// start) and the dispatcher's server certificate for the names agents dial (made again when they
// change or it nears expiry). Also the `--node-cert-ttl` duration syntax.
import os from 'node:os';
import type { Logger } from 'pino';
import { ClusterCa } from './ca.js';
import { ensureServerCert, localAddresses, serverSans, type ServerKeyPair } from './server-cert.js';

export interface PkiOptions {
  dataDir: string;
  agentListen: string;
  advertiseAddr?: string;
  tlsSans?: string[];
}

export interface ClusterPki {
  ca: ClusterCa;
  server: ServerKeyPair;
}

export async function ensureClusterPki(opts: PkiOptions, log: Logger): Promise<ClusterPki> {
  const ca = await ClusterCa.loadOrCreate(opts.dataDir, log);
  const sans = serverSans({
    agentListen: opts.agentListen,
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
    extra: opts.tlsSans ?? [],
    hostname: os.hostname(),
    interfaceAddresses: localAddresses(),
  });
  const server = await ensureServerCert(opts.dataDir, ca, sans, log);
  return { ca, server };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Shortest node certificate lifetime: renewal at 2/3 of it must leave time for a round trip. */
export const MIN_NODE_CERT_TTL_MS = 10_000;
/** Longest: revocation entries are kept longer than this (revocations.ts). */
export const MAX_NODE_CERT_TTL_MS = 30 * 86_400_000;

/** `20s`, `30m`, `24h`, `1h30m`, `7d` -> ms; undefined if it is not such a duration. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim();
  if (!/^(\d+(s|m|h|d))+$/.test(t)) return undefined;
  let ms = 0;
  for (const m of t.matchAll(/(\d+)(s|m|h|d)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}
