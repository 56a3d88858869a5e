// Virtual addresses -> ready tasks, in the node's kernel (docs/networking.md): a nat chain
// BERTH-SERVICES, jumped to from PREROUTING (tasks' traffic) and OUTPUT (the node's own), with
// one chain per service that DNATs a new connection to its VIP to one of the service's ready
// tasks, picked at random with equal odds (`-m statistic --mode random`, as kube-proxy's iptables
// mode). Nothing is rewritten but the destination: the task sees the client's own address.
// Every change rewrites the chains in one iptables-restore (atomic for the table); connections
// already made keep their backend (conntrack), new ones only go to the tasks listed now.
//
// The routing mesh's ingress ports (without proxyProtocol) live in the same chain: a packet to any
// of the node's own addresses on a published port is marked and DNATed to one of the service's
// ready tasks, on any node. A marked packet that leaves towards another node (not the node's
// bridge) is SNATed to the node's bridge gateway (BERTH-POSTROUTING, first in POSTROUTING), so the
// reply comes back through this node; one that goes to a task on this node keeps the client's own
// address. Docker's FORWARD chain lets DNATed connections through (a rule tagged `berth-mesh`).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type { ServiceEndpoints } from '../../common/types.js';

const run = promisify(execFile);

export const SERVICES_CHAIN = 'BERTH-SERVICES';
export const POSTROUTING_CHAIN = 'BERTH-POSTROUTING';
const SERVICE_CHAIN_PREFIX = 'BERTH-SVC-';
const INGRESS_CHAIN_PREFIX = 'BERTH-ING-';
/** The mark of a packet the mesh sent on (iptables -m mark). */
export const MESH_MARK = '0x2000/0x2000';

/** What the rules need of the node itself: its bridge (where local tasks are) and the bridge's gateway. */
export interface LocalNet {
  bridge: string;
  gateway?: string;
}

/** A chain name of at most 28 characters, the same for the same service on every node. */
export function serviceChain(service: string): string {
  return SERVICE_CHAIN_PREFIX + hash16(service);
}

/** The chain of one ingress port of a service. */
export function ingressChain(service: string, port: number, protocol: string): string {
  return INGRESS_CHAIN_PREFIX + hash16(`${service}/${port}/${protocol}`);
}

function hash16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16).toUpperCase();
}

/** The iptables-restore input (nat table, --noflush) for `endpoints`; `stale` chains are emptied and deleted. */
export function natRules(endpoints: readonly ServiceEndpoints[], stale: readonly string[], local: LocalNet = { bridge: 'berth0' }): string {
  const lines = ['*nat', `:${SERVICES_CHAIN} - [0:0]`, `:${POSTROUTING_CHAIN} - [0:0]`];
  const wanted = endpoints.filter((e) => e.addresses.length > 0);
  const chains: [chain: string, rules: string[]][] = [];
  const jumps: string[] = [];
  for (const e of wanted) {
    const chain = serviceChain(e.service);
    jumps.push(`-A ${SERVICES_CHAIN} -d ${e.vip}/32 -m comment --comment "${e.service}" -j ${chain}`);
    chains.push([chain, pickOne(chain, e.addresses, (addr) => addr)]);
    for (const p of e.ingress ?? []) {
      if (p.proxyProtocol) continue; // the user-space forwarder (ingress-proxy.ts) owns this port
      const ing = ingressChain(e.service, p.publishedPort, p.protocol);
      jumps.push(
        `-A ${SERVICES_CHAIN} -p ${p.protocol} --dport ${p.publishedPort} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 ` +
          `-m comment --comment "${e.service} ingress ${p.publishedPort}/${p.protocol}" -j MARK --set-xmark ${MESH_MARK}`,
        `-A ${SERVICES_CHAIN} -p ${p.protocol} --dport ${p.publishedPort} -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j ${ing}`,
      );
      chains.push([ing, pickOne(ing, e.addresses, (addr) => `${addr}:${p.targetPort}`, `-p ${p.protocol} `)]);
    }
  }
  for (const [chain] of chains) lines.push(`:${chain} - [0:0]`);
  const keep = new Set(chains.map(([c]) => c));
  const drop = stale.filter((c) => !keep.has(c));
  for (const c of drop) lines.push(`:${c} - [0:0]`);
  lines.push(...jumps);
  for (const [, rules] of chains) lines.push(...rules);
  const snat = local.gateway ? `SNAT --to-source ${local.gateway}` : 'MASQUERADE';
  lines.push(`-A ${POSTROUTING_CHAIN} -m mark --mark ${MESH_MARK} ! -o ${local.bridge} -m comment --comment "mesh to another node" -j ${snat}`);
  for (const c of drop) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** DNAT to one of `backends`, picked at random with equal odds. */
function pickOne(chain: string, backends: readonly string[], to: (addr: string) => string, match = ''): string[] {
  const sorted = [...backends].sort();
  return sorted.map((addr, i) => {
    const left = sorted.length - i;
    const pick = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(10)} ` : '';
    return `-A ${chain} ${match}${pick}-j DNAT --to-destination ${to(addr)}`;
  });
}

/** The BERTH-SVC- and BERTH-ING- chains the nat table has now. */
async function existingChains(): Promise<string[]> {
  const { stdout } = await run('iptables-save', ['-t', 'nat']);
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(`:${SERVICE_CHAIN_PREFIX}`) || l.startsWith(`:${INGRESS_CHAIN_PREFIX}`))
    .map((l) => l.slice(1).split(' ')[0] ?? '');
}

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

const iptables = (args: string[]) => run('iptables', ['-w', '5', ...args]);

/** Inserts `rule` at the top of `table`/`chain` unless it is there already. */
async function ensureRule(table: string, chain: string, rule: string[]): Promise<void> {
  const present = await iptables(['-t', table, '-C', chain, ...rule]).then(() => true, () => false);
  if (!present) await iptables(['-t', table, '-I', chain, '1', ...rule]);
}

/**
 * Writes the chains for `endpoints`; makes sure PREROUTING and OUTPUT jump to them, POSTROUTING
 * jumps to BERTH-POSTROUTING first of all (before the cluster's no-masquerade rule), and Docker's
 * FORWARD chain lets the mesh's DNATed connections through.
 */
export async function applyServiceRules(endpoints: readonly ServiceEndpoints[], local?: LocalNet): Promise<void> {
  await restore(natRules(endpoints, await existingChains(), local));
  for (const chain of ['PREROUTING', 'OUTPUT']) await ensureRule('nat', chain, ['-m', 'comment', '--comment', 'berth services', '-j', SERVICES_CHAIN]);
  const post = ['-m', 'comment', '--comment', 'berth mesh', '-j', POSTROUTING_CHAIN];
  const first = (await iptables(['-t', 'nat', '-S', 'POSTROUTING'])).stdout.split('\n')[1] ?? '';
  if (!first.includes(`-j ${POSTROUTING_CHAIN}`)) {
    while (await iptables(['-t', 'nat', '-D', 'POSTROUTING', ...post]).then(() => true, () => false));
    await iptables(['-t', 'nat', '-I', 'POSTROUTING', '1', ...post]);
  }
  const forward = await iptables(['-t', 'filter', '-S', 'DOCKER-USER']).then(() => 'DOCKER-USER', () => 'FORWARD');
  await ensureRule('filter', forward, ['-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', 'berth-mesh', '-j', 'ACCEPT']);
}
