// Virtual addresses -> ready tasks, in the node's kernel (docs/networking.md): a nat chain
// BERTH-SERVICES, jumped to from PREROUTING (tasks' traffic) and OUTPUT (the node's own), with
// one chain per service that DNATs a new connection to its VIP to one of the service's ready
// tasks, picked at random with equal odds (`-m statistic --mode random`, as kube-proxy's iptables
// mode). Nothing is rewritten but the destination: the task sees the client's own address.
// Every change rewrites the chains in one iptables-restore (atomic for the table); connections
// already made keep their backend (conntrack), new ones only go to the tasks listed now.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type { ServiceEndpoints } from '../../common/types.js';

const run = promisify(execFile);

export const SERVICES_CHAIN = 'BERTH-SERVICES';
const SERVICE_CHAIN_PREFIX = 'BERTH-SVC-';

/** A chain name of at most 28 characters, the same for the same service on every node. */
export function serviceChain(service: string): string {
  return SERVICE_CHAIN_PREFIX + createHash('sha256').update(service).digest('hex').slice(0, 16).toUpperCase();
}

/** The iptables-restore input (nat table, --noflush) for `endpoints`; `stale` chains are emptied and deleted. */
export function natRules(endpoints: readonly ServiceEndpoints[], stale: readonly string[]): string {
  const lines = ['*nat', `:${SERVICES_CHAIN} - [0:0]`];
  const wanted = endpoints.filter((e) => e.addresses.length > 0);
  for (const e of wanted) lines.push(`:${serviceChain(e.service)} - [0:0]`);
  const keep = new Set(wanted.map((e) => serviceChain(e.service)));
  const drop = stale.filter((c) => !keep.has(c));
  for (const c of drop) lines.push(`:${c} - [0:0]`);
  for (const e of wanted) {
    const chain = serviceChain(e.service);
    lines.push(`-A ${SERVICES_CHAIN} -d ${e.vip}/32 -m comment --comment "${e.service}" -j ${chain}`);
    const backends = [...e.addresses].sort();
    backends.forEach((addr, i) => {
      const left = backends.length - i;
      const pick = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(10)} ` : '';
      lines.push(`-A ${chain} ${pick}-j DNAT --to-destination ${addr}`);
    });
  }
  for (const c of drop) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The BERTH-SVC- chains the nat table has now. */
async function existingChains(): Promise<string[]> {
  const { stdout } = await run('iptables-save', ['-t', 'nat']);
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(`:${SERVICE_CHAIN_PREFIX}`))
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

/** Writes the chains for `endpoints` and makes sure PREROUTING and OUTPUT jump to them. */
export async function applyServiceRules(endpoints: readonly ServiceEndpoints[]): Promise<void> {
  await restore(natRules(endpoints, await existingChains()));
  for (const chain of ['PREROUTING', 'OUTPUT']) {
    const jump = ['-m', 'comment', '--comment', 'berth services', '-j', SERVICES_CHAIN];
    const present = await run('iptables', ['-w', '5', '-t', 'nat', '-C', chain, ...jump]).then(() => true, () => false);
    if (!present) await run('iptables', ['-w', '5', '-t', 'nat', '-I', chain, '1', ...jump]);
  }
}
