// This server's embedded etcd as one member of the servers' etcd cluster: where its peer port
// listens and what it advertises (--etcd-peer-addr, or derived, then kept in the data dir so a
// restart comes back as the same member), its peer certificate (cluster CA, CN checked by the
// other members), and the join details a joining server received (`etcd-member.json`).
//
// Owns: those files and the choice of the peer address. Must not: add or remove members (the
// dispatcher's JoinServer and the servers API do, through the store).
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../../common/errors.js';
import { readIfExists, writePrivateFile } from '../../common/pki/files.js';
import { CA_CERT_FILE, ETCD_PEER_CN, type ClusterCa } from '../pki/ca.js';
import { ensureCertFiles, hostOf } from '../pki/server-cert.js';
import { Store, type EtcdMember } from '../store/store.js';
import { freePort, type EtcdMemberOptions } from './embedded.js';

export const MEMBER_FILE = 'etcd-member.json';
export const PEER_CERT_FILE = 'etcd-peer.crt';
export const PEER_KEY_FILE = 'etcd-peer.key';
/** The peer port a first start takes when it is free (else any free port); kept across restarts. */
export const DEFAULT_PEER_PORT = 7072;

/** What `etcd-member.json` keeps. */
export interface MemberFile {
  /** `HOST:PORT` the member advertises to its peers. */
  peerAddress: string;
  /** Set by `berth server --join`: the initial cluster of the member's first start. */
  join?: { initialCluster: string; etcdPrefix: string };
}

export interface MemberAddressOptions {
  dataDir: string;
  /** --etcd-peer-addr. */
  etcdPeerAddr?: string;
  advertiseAddr?: string;
  agentListen: string;
}

export class EtcdPeerAddressError extends BerthError {}

export async function readMemberFile(dataDir: string): Promise<MemberFile | undefined> {
  const text = await readIfExists(path.join(dataDir, MEMBER_FILE));
  return text ? (JSON.parse(text) as MemberFile) : undefined;
}

export async function writeMemberFile(dataDir: string, file: MemberFile): Promise<void> {
  await writePrivateFile(path.join(dataDir, MEMBER_FILE), `${JSON.stringify(file, null, 2)}\n`);
}

/**
 * The member's peer address: --etcd-peer-addr; else the one kept in the data dir; else the host
 * of --advertise-addr, of --agent-listen when not a wildcard, or this machine's first
 * non-loopback IPv4 address, on port 7072 when free.
 */
export async function memberAddress(o: MemberAddressOptions, kept: MemberFile | undefined): Promise<{ host: string; port: number; chosen?: boolean }> {
  if (o.etcdPeerAddr) return parseAddress(o.etcdPeerAddr, '--etcd-peer-addr');
  if (kept?.peerAddress) return parseAddress(kept.peerAddress, MEMBER_FILE);
  const listenHost = hostOf(o.agentListen);
  const host = o.advertiseAddr ? hostOf(o.advertiseAddr) : !['', '0.0.0.0', '::'].includes(listenHost) ? listenHost : firstAddress();
  const listen = isIP(host) ? host : '0.0.0.0';
  const port = (await portFree(listen, DEFAULT_PEER_PORT)) ? DEFAULT_PEER_PORT : await freePort(listen);
  // Chosen here, so another free port will do if this one is taken before etcd binds it.
  return { host, port, chosen: true };
}

function parseAddress(text: string, field: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new EtcdPeerAddressError(`${field} "${text}": expected HOST:PORT (an address the other servers reach, port 1-65535)`);
  const host = m[1] ?? m[2]!;
  if (host === '0.0.0.0' || host === '::') throw new EtcdPeerAddressError(`${field} "${text}": the other servers must be able to dial it; name this machine's address, not a wildcard`);
  return { host, port };
}

function firstAddress(): string {
  const all = Object.values(os.networkInterfaces()).flat();
  return all.find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '127.0.0.1';
}

async function portFree(host: string, port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** The member's etcd options: its peer certificate made (or kept) for `host`. */
export async function memberOptions(
  dataDir: string,
  name: string,
  address: { host: string; port: number; chosen?: boolean },
  ca: ClusterCa,
  join: MemberFile['join'],
  log: Logger,
): Promise<EtcdMemberOptions> {
  const certFile = path.join(dataDir, PEER_CERT_FILE);
  const keyFile = path.join(dataDir, PEER_KEY_FILE);
  const names = [...new Set([address.host, '127.0.0.1', 'localhost'])].sort();
  await ensureCertFiles({ certFile, keyFile, label: "the etcd member's peer certificate", peer: true }, ca, { dns: names.filter((n) => !isIP(n)), ips: names.filter((n) => isIP(n)) }, log);
  return {
    name,
    peerListenHost: isIP(address.host) ? address.host : '0.0.0.0',
    peerAdvertiseHost: address.host,
    peerPort: address.port,
    ...(address.chosen ? { peerPortFallback: true } : {}),
    tls: { certFile, keyFile, caFile: path.join(dataDir, CA_CERT_FILE), allowedCn: ETCD_PEER_CN },
    ...(join ? { join: { initialCluster: join.initialCluster } } : {}),
  };
}

/**
 * After start: this member advertises `peerUrl` (an older data dir's member advertised a
 * loopback URL; an address given anew moves it). Skipped while it is a learner.
 */
export async function advertisePeerUrl(store: Store, peerUrl: string, log: Logger): Promise<void> {
  const id = await store.localMemberId();
  const me = (await store.members()).find((m) => m.id === id);
  if (!me || me.learner || (me.peerUrls.length === 1 && me.peerUrls[0] === peerUrl)) return;
  await store.updateMemberPeers(id, [peerUrl]);
  log.info({ from: me.peerUrls, to: peerUrl }, "updated this etcd member's peer URL");
}

/**
 * Waits until the member at `endpoints` answers reads (a joined learner, once promoted); throws
 * after `timeoutMs`. Asks through a client of its own: the refusals a learner answers would
 * open the server's store's circuit breaker for a while.
 */
export async function waitVoting(endpoints: string[], log: Logger, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const probe = new Store({ endpoints, prefix: '/', logger: log, timeoutMs: 2_000 });
    try {
      await probe.revision();
      return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      probe.close();
    }
    if (Date.now() > deadline) throw new BerthError(`this server's etcd member was not promoted to a voting member within ${timeoutMs / 1000} s (is a server of the cluster running, and can it reach this one's peer address?): ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `name=url,...` for etcd's --initial-cluster; members without a name yet are `pending`. */
export function initialCluster(members: readonly EtcdMember[], pending: { id: string; name: string }): string {
  return members.map((m) => `${m.id === pending.id ? pending.name : m.name}=${m.peerUrls.join(`,${m.id === pending.id ? pending.name : m.name}=`)}`).join(',');
}
