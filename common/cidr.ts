// IPv4 addresses and CIDR blocks as numbers: parsing with field-named errors, the n-th subnet of
// a range, membership. Used by the control plane (node subnets) and the agent (routes, DNAT).
import { BerthError } from './errors.js';

export class CidrError extends BerthError {
  override readonly code: string = 'INVALID';
}

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** `a.b.c.d/p` with no host bits set; a CidrError naming `field` otherwise. */
export function parseCidr(text: string, field: string): Cidr {
  const [addr, len, extra] = text.split('/');
  const base = parseIpv4(addr ?? '');
  const prefix = Number(len);
  if (base === undefined || extra !== undefined || len === undefined || !/^\d{1,2}$/.test(len) || prefix > 32) {
    throw new CidrError(`${field} "${text}": expected an IPv4 block like 10.240.0.0/16`);
  }
  if ((base & ~mask(prefix)) >>> 0 !== 0) throw new CidrError(`${field} "${text}": host bits are set (the block starts at ${formatIpv4((base & mask(prefix)) >>> 0)})`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** How many /`prefix` blocks `range` holds. */
export function subnetCount(range: Cidr, prefix: number): number {
  return prefix < range.prefix ? 0 : 2 ** (prefix - range.prefix);
}

/** The `index`-th /`prefix` block of `range`. */
export function nthSubnet(range: Cidr, prefix: number, index: number): Cidr {
  return { base: (range.base + index * 2 ** (32 - prefix)) >>> 0, prefix };
}

export function contains(range: Cidr, address: number): boolean {
  return ((address & mask(range.prefix)) >>> 0) === range.base;
}

/** The block's n-th address (1: the first usable, the gateway by convention). */
export function hostOf(c: Cidr, n: number): string {
  return formatIpv4((c.base + n) >>> 0);
}

/** Whether two blocks share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}
