// Networks that isolate, in the node's packet filter (docs/networking.md): a new connection from
// one of this node's tasks to any address of the cluster's node subnets goes through
// BERTH-ISOLATION (filter table, first in DOCKER-USER, for packets coming from the node's bridge):
// a known task's packets jump to the chain of each of its networks, BERTH-NET-<hash>, which
// accepts the addresses of the tasks of every service on that network; anything else from a known
// task to the cluster is rejected. Connections through a VIP are checked after the DNAT, on the
// task they were sent to. Every change rewrites the chains in one iptables-restore.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { contains, parseCidr, parseIpv4 } from '../../common/cidr.js';
import { serviceNetworks } from '../../common/networks.js';
import type { ServiceEndpoints } from '../../common/types.js';

const run = promisify(execFile);
export const ISOLATION_CHAIN = 'BERTH-ISOLATION';
const NETWORK_CHAIN_PREFIX = 'BERTH-NET-';

export interface IsolationScope {
  /** This node's subnet: the tasks whose packets are checked here. */
  subnet: string;
  /** Every node's subnets: where the check applies. */
  clusterRange: string;
  bridge: string;
}

export function networkChain(network: string): string {
  return NETWORK_CHAIN_PREFIX + createHash('sha256').update(network).digest('hex').slice(0, 16).toUpperCase();
}

const networksOf = (e: ServiceEndpoints) => e.networks ?? serviceNetworks({});

/** The iptables-restore input (filter table, --noflush); `stale` network chains are emptied and deleted. */
export function filterRules(endpoints: readonly ServiceEndpoints[], scope: IsolationScope, stale: readonly string[]): string {
  const local = parseCidr(scope.subnet, 'subnet');
  const isLocal = (addr: string) => {
    const ip = parseIpv4(addr);
    return ip !== undefined && contains(local, ip);
  };
  const members = new Map<string, string[]>(); // network -> addresses
  for (const e of endpoints) for (const n of networksOf(e)) members.set(n, [...(members.get(n) ?? []), ...(e.members ?? e.addresses)]);
  const chains = [...members.keys()].sort().map((n) => [n, networkChain(n)] as const);
  const keep = new Set(chains.map(([, c]) => c));
  const drop = stale.filter((c) => !keep.has(c));
  const lines = ['*filter', `:${ISOLATION_CHAIN} - [0:0]`, ...chains.map(([, c]) => `:${c} - [0:0]`), ...drop.map((c) => `:${c} - [0:0]`)];
  lines.push(`-A ${ISOLATION_CHAIN} ! -d ${scope.clusterRange} -j RETURN`);
  const seen = new Set<string>();
  for (const e of endpoints) {
    for (const src of new Set(e.members ?? e.addresses)) {
      if (!isLocal(src) || seen.has(src)) continue;
      seen.add(src);
      for (const n of networksOf(e)) lines.push(`-A ${ISOLATION_CHAIN} -s ${src}/32 -m comment --comment "${e.service}" -j ${networkChain(n)}`);
      lines.push(`-A ${ISOLATION_CHAIN} -s ${src}/32 -m comment --comment "${e.service}: no network in common" -j REJECT --reject-with icmp-port-unreachable`);
    }
  }
  for (const [n, chain] of chains) for (const dst of [...new Set(members.get(n))].sort()) lines.push(`-A ${chain} -d ${dst}/32 -j ACCEPT`);
  for (const c of drop) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const iptables = (args: string[]) => run('iptables', ['-w', '5', ...args]);

function restore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('iptables-restore', ['--noflush', '-w', '5'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`iptables-restore: exit ${code}: ${stderr.trim()}`))));
    child.stdin.end(input);
  });
}

/** Writes the chains and keeps the jump to them first in DOCKER-USER (or FORWARD), above the cluster's accept rule. */
export async function applyIsolationRules(endpoints: readonly ServiceEndpoints[], scope: IsolationScope): Promise<void> {
  const { stdout } = await iptables(['-t', 'filter', '-S']);
  const stale = stdout
    .split('\n')
    .filter((l) => l.startsWith(`-N ${NETWORK_CHAIN_PREFIX}`))
    .map((l) => l.slice(3).trim());
  await restore(filterRules(endpoints, scope, stale));
  const chain = await iptables(['-t', 'filter', '-S', 'DOCKER-USER']).then(() => 'DOCKER-USER', () => 'FORWARD');
  const jump = ['-i', scope.bridge, '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'berth networks', '-j', ISOLATION_CHAIN];
  const first = (await iptables(['-t', 'filter', '-S', chain])).stdout.split('\n')[1] ?? '';
  if (!first.includes(`-j ${ISOLATION_CHAIN}`)) {
    while (await iptables(['-t', 'filter', '-D', chain, ...jump]).then(() => true, () => false));
    await iptables(['-t', 'filter', '-I', chain, '1', ...jump]);
  }
}
